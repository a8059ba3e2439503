//! Embeds the SeetaFace frontal model that ships inside the `rustface` crate package, so the
//! engine never downloads a model at run time. The package is located through `cargo metadata`
//! (the manifest path of `rustface`), with a scan of the cargo registry as a fallback.
use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let source = locate_through_metadata()
        .or_else(locate_in_registry)
        .unwrap_or_else(|| panic!("could not find {MODEL} inside the rustface crate package"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::copy(&source, out.join("seeta_fd_frontal_v1.0.bin")).expect("copy the rustface model");
    println!("cargo:rerun-if-changed={}", source.display());
}

fn locate_through_metadata() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(manifest_dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    meta["packages"].as_array()?.iter().find_map(|p| {
        if p["name"] != "rustface" {
            return None;
        }
        let manifest = Path::new(p["manifest_path"].as_str()?);
        let model = manifest.parent()?.join(MODEL);
        model.is_file().then_some(model)
    })
}

fn locate_in_registry() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry").join("src");
    for index in std::fs::read_dir(src).ok()?.flatten() {
        for pkg in std::fs::read_dir(index.path()).ok()?.flatten() {
            let name = pkg.file_name().to_string_lossy().into_owned();
            if name.starts_with("rustface-0.1.") && pkg.path().join(MODEL).is_file() {
                return Some(pkg.path().join(MODEL));
            }
        }
    }
    None
}
