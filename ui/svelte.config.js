/** Svelte options shared by Vite, Vitest and svelte-check. */
export default {
  compilerOptions: {
    // Svelte 5 runes everywhere: no legacy `export let` / `$:` components.
    runes: true,
  },
};
