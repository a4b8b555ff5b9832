// The product's design card keeps tauri.conf.json at the repository root.
fn main() {
    // The UI is embedded at compile time: rebuild when it is rebuilt.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .unwrap_or_else(|e| panic!("tauri-build failed: {e:#}"));
}
