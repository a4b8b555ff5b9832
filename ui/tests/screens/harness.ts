// The real UI over Tauri's IPC, with the IPC mocked (@tauri-apps/api/mocks):
// commands go through `invoke` exactly as in the app and are answered by the
// in-memory engine stub; its events come back through Tauri's `listen`.
// The query string picks the stub's starting state (see backend-stub.ts).

import { emit } from '@tauri-apps/api/event';
import { mockIPC } from '@tauri-apps/api/mocks';
import { mount } from 'svelte';
import App from '../../src/App.svelte';
import '../../src/app.css';
import { connectBackend } from '../../src/lib/backend';
import { createBackendStub, stubOptionsFromQuery } from '../../src/lib/backend-stub';

const stub = createBackendStub({ ...stubOptionsFromQuery(location.search), registerDelayMs: 0 });
// The updater's banner asks too: no update in these tests.
const shell: Record<string, unknown> = { update_status: { state: 'idle' } };
mockIPC((cmd, args) => (cmd in shell ? shell[cmd] : stub.invoke(cmd, (args ?? {}) as Record<string, unknown>)), { shouldMockEvents: true });
// Screen tests look at the stub engine's state (for example: is the microphone open).
Object.assign(window, { homelineStub: stub });
void stub.listen('engine', (payload) => void emit('engine', payload));

const target = document.getElementById('app');
if (!target) throw new Error('missing #app element');
const backend = connectBackend();
if (backend.kind !== 'tauri') throw new Error('the mocked IPC was not picked up');
mount(App, { target, props: { backend } });
