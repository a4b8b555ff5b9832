//! The window's display settings: the display check and GTK without OpenGL
//! are the host's (`homeline_desktop::display`); WebKit's memory settings
//! are this process's own.

pub use homeline_desktop::display::{check, disable_gtk_gl};

/// WebKit settings that make the open window smaller, set in the environment
/// before the first webview starts its processes (they inherit it). Each was
/// measured on its own with the window open (release, Xvfb, the pages of the
/// app and its WebKit processes counted once: see src-tauri/README.md); a
/// variable the user set by hand wins. Settings of the web view itself (cache
/// model "document viewer", no page cache, acceleration policy "never")
/// measured nothing (± 0.3 MiB): one page, one origin, nothing to cache.
/// Must run before GTK starts, with no other thread alive.
#[cfg(target_os = "linux")]
pub fn lighten_webkit() {
    let set_default = |var: &str, value: &str| {
        if std::env::var_os(var).is_none() {
            // Edition 2021, and no other thread exists yet.
            std::env::set_var(var, value);
        }
    };
    // JavaScriptCore interprets instead of compiling (JIT code, its compiler
    // threads and the pages of JSC they touch): -6.5 MiB, nearly all in the
    // web process; a click's visible response unchanged (uiresponse bench:
    // keypad 13 ms, History 6 ms with and without). `JSC_useJIT=true` undoes it.
    set_default("JSC_useJIT", "false");
    if std::env::var_os("HOMELINE_GPU").is_some_and(|v| v == "1") {
        return;
    }
    // The page reaches the window through shared memory instead of DMA-BUF
    // (no GBM device or EGL context for it in the app's process): -4 MiB.
    set_default("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
}

#[cfg(not(target_os = "linux"))]
pub fn lighten_webkit() {}
