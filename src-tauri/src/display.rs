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
