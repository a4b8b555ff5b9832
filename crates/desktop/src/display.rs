//! A desktop app needs a display; say so in one sentence instead of letting
//! GTK abort with a cryptic message.

#[cfg(target_os = "linux")]
pub fn check() -> Result<(), String> {
    let has = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if has("DISPLAY") || has("WAYLAND_DISPLAY") {
        return Ok(());
    }
    Err("Homeline needs a graphical display, and none was found (DISPLAY and WAYLAND_DISPLAY are unset); \
         to run it without one, use: xvfb-run -a -s '-screen 0 1280x800x24' homeline"
        .to_owned())
}

#[cfg(not(target_os = "linux"))]
pub fn check() -> Result<(), String> {
    Ok(())
}

/// GTK without OpenGL, unless the user asked otherwise (`HOMELINE_GPU=1`, or
/// `GDK_GL` set by hand). GTK 3 opens OpenGL when it connects to the display,
/// only to choose a visual, and nothing in this app draws with GTK's GL: the
/// driver it loads (Mesa with LLVM where there is no GPU) was the largest thing
/// in the app while it sat in the tray. Measured with `homeline --minimised`
/// under Xvfb: 107 → 76 MiB PSS. WebKit keeps its own EGL for the page, which it
/// cannot run without (WebKitGTK 2.50 aborts with no EGL display). Must run
/// before GTK starts.
#[cfg(target_os = "linux")]
pub fn disable_gtk_gl() {
    if std::env::var_os("HOMELINE_GPU").is_some_and(|v| v == "1") || std::env::var_os("GDK_GL").is_some() {
        return;
    }
    // Edition 2021, and no other thread exists yet: nothing reads the
    // environment while it changes.
    std::env::set_var("GDK_GL", "disable");
}

#[cfg(not(target_os = "linux"))]
pub fn disable_gtk_gl() {}
