// Shapes exchanged with the Rust side over Tauri IPC.
// Field names are camelCase on the wire (serde `rename_all = "camelCase"`).

/** What the dialer display shows. The engine owns it: the UI only renders it. */
export interface DialerView {
  /** The cleaned number, e.g. "+4930123456" (letters already turned into digits). */
  text: string;
  /** True when `text` is something the engine would try to dial. */
  canCall: boolean;
}

/** `app_info` result, asked once at start. */
export interface AppInfo {
  version: string;
  accountsConfigured: boolean;
}

/** `start_echo_test` result. */
export interface EchoTestStarted {
  /** A sentence for the status line, e.g. "Echo test started: speak and you will hear yourself." */
  message: string;
}

/** Every command rejects with this (the engine's error as a code and a sentence). */
export interface BackendErrorPayload {
  code: string;
  message: string;
}

/**
 * The command contract: name → argument object and success value.
 * Keep in sync with the `#[tauri::command]`s in src-tauri and with ui/README.md.
 */
export interface Commands {
  app_info: { args: Record<string, never>; result: AppInfo };
  dialer_press: { args: { key: string }; result: DialerView };
  dialer_backspace: { args: Record<string, never>; result: DialerView };
  dialer_paste: { args: { text: string }; result: DialerView };
  dialer_clear: { args: Record<string, never>; result: DialerView };
  /** Success value is not used yet (calls arrive with the in-call screen). */
  dial: { args: { target: string }; result: unknown };
  open_account_setup: { args: Record<string, never>; result: unknown };
  start_echo_test: { args: Record<string, never>; result: EchoTestStarted };
}

export type CommandName = keyof Commands;

/** Low-level transport: Tauri's `invoke`, or the in-memory stub. */
export type InvokeFn = (cmd: string, args: Record<string, unknown>) => Promise<unknown>;

/** Low-level event subscription: Tauri's `listen`, or the stub's emitter. */
export type ListenFn = (
  event: string,
  handler: (payload: unknown) => void,
) => Promise<() => void>;
