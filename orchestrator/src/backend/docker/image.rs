//! The agent image, built from the faultlab executable itself: a tar holding
//! the binary at `/faultlab`, every shared library `ldd` says it loads (the
//! ELF interpreter included) and empty `/tmp` and `/state`, imported with
//! `create_image` (no registry, no Dockerfile). Tagged by the binary's hash,
//! so a second run reuses it.

use super::DockerError;
use bollard::query_parameters::{CreateImageOptions, ListImagesOptions, RemoveImageOptions};
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Repository name of the agent image.
pub const IMAGE_REPO: &str = "faultlab-agent";

/// Label every faultlab image carries.
pub const IMAGE_LABEL: &str = "faultlab.image";

/// Where the binary sits inside the image.
const EXE_IN_IMAGE: &str = "faultlab";

/// Imports done by this process (tests check the cache with it).
static IMPORTS: AtomicU64 = AtomicU64::new(0);

/// One import at a time per process: parallel deploys of the same binary
/// then find the image the first one imported instead of importing twice.
static IMPORT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Hashes already computed, keyed by path, size and mtime (hashing a debug
/// build of ~25 MB is not free).
static HASHES: Mutex<Option<HashMap<ExeKey, String>>> = Mutex::new(None);

/// An executable as far as the hash cache can tell: path, size, mtime.
type ExeKey = (PathBuf, u64, SystemTime);

/// The agent image a deploy uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentImage {
    /// `faultlab-agent:<first 12 hex of the binary's sha256>`.
    pub reference: String,
    /// Whether this call imported it (false: it was cached).
    pub imported: bool,
    /// How long finding or importing it took.
    pub elapsed: Duration,
}

/// How many images this process has imported.
pub fn imports() -> u64 {
    IMPORTS.load(Ordering::Relaxed)
}

/// Find the agent image for `exe`, importing it when the engine lacks it.
pub async fn ensure(docker: &Docker, exe: &Path) -> Result<AgentImage, DockerError> {
    let started = Instant::now();
    let exe = exe.to_path_buf();
    let tag = {
        let exe = exe.clone();
        tokio::task::spawn_blocking(move || hash_tag(&exe))
            .await
            .map_err(|e| DockerError::Image(format!("hashing task failed: {e}")))??
    };
    let reference = format!("{IMAGE_REPO}:{tag}");
    let _guard = IMPORT_LOCK.lock().await;
    if docker.inspect_image(&reference).await.is_ok() {
        return Ok(AgentImage { reference, imported: false, elapsed: started.elapsed() });
    }
    let (tar, lib_dirs) = {
        let exe = exe.clone();
        tokio::task::spawn_blocking(move || build_tar(&exe))
            .await
            .map_err(|e| DockerError::Image(format!("packing task failed: {e}")))??
    };
    let env = format!("ENV LD_LIBRARY_PATH={}", lib_dirs.join(":"));
    let label = format!("LABEL {IMAGE_LABEL}=agent");
    let mut changes = vec![r#"ENTRYPOINT ["/faultlab"]"#.to_string(), label, "WORKDIR /state".to_string()];
    if !lib_dirs.is_empty() {
        changes.push(env);
    }
    let options = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(IMAGE_REPO.to_string()),
        tag: Some(tag.clone()),
        changes,
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), Some(bollard::body_full(tar.into())), None);
    while let Some(item) = progress.next().await {
        item.map_err(|source| DockerError::api("import the agent image", source))?;
    }
    // The import answers with the image id only: make sure the tag exists.
    docker
        .inspect_image(&reference)
        .await
        .map_err(|source| DockerError::api("inspect the imported agent image", source))?;
    IMPORTS.fetch_add(1, Ordering::Relaxed);
    // A new binary makes the older images dead weight (~25-85 MB each).
    prune_others(docker, &reference).await;
    Ok(AgentImage { reference, imported: true, elapsed: started.elapsed() })
}

/// Remove the agent images other than `keep`; those a container still uses
/// stay (the engine refuses without force). Best effort: returns how many went.
pub async fn prune_others(docker: &Docker, keep: &str) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![IMAGE_LABEL.to_string()])]);
    let Ok(images) =
        docker.list_images(Some(ListImagesOptions { filters: Some(filters), ..Default::default() })).await
    else {
        return 0;
    };
    let mut removed = 0;
    for tag in images.iter().flat_map(|i| &i.repo_tags) {
        if tag != keep
            && tag.starts_with(&format!("{IMAGE_REPO}:"))
            && docker.remove_image(tag, None::<RemoveImageOptions>, None).await.is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The image tag of an executable: the first 12 hex digits of its sha256.
pub fn hash_tag(exe: &Path) -> Result<String, DockerError> {
    let read_err = |source| DockerError::AgentExe { path: exe.to_path_buf(), source };
    let meta = std::fs::metadata(exe).map_err(read_err)?;
    let key = (exe.to_path_buf(), meta.len(), meta.modified().map_err(read_err)?);
    if let Some(tag) = HASHES.lock().ok().and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned())) {
        return Ok(tag);
    }
    let mut file = std::fs::File::open(exe).map_err(read_err)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(read_err)?;
    let digest = hasher.finalize();
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    if let Ok(mut m) = HASHES.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, tag.clone());
    }
    Ok(tag)
}

/// The shared libraries `exe` loads, as absolute paths (interpreter included).
/// Empty for a statically linked executable.
pub fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| DockerError::Ldd { path: exe.to_path_buf(), detail: format!("cannot run ldd: {e}") })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // ldd fails on static executables; those need nothing else.
        if stdout.contains("not a dynamic executable") || stderr.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(DockerError::Ldd { path: exe.to_path_buf(), detail: stderr.trim().to_string() });
    }
    parse_ldd(&stdout).map_err(|detail| DockerError::Ldd { path: exe.to_path_buf(), detail })
}

/// Parse `ldd` output: `name => /path (addr)`, `/path (addr)`, vdso lines skipped.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") {
            continue;
        }
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("{} is not found on this host", name.trim()));
                }
                rest
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or("");
        // linux-vdso.so.1 has no file: the kernel maps it.
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The image's root file system as a tar, and the directories holding libraries.
fn build_tar(exe: &Path) -> Result<(Vec<u8>, Vec<String>), DockerError> {
    let libs = shared_libraries(exe)?;
    let tar_err = |e: std::io::Error| DockerError::Image(format!("cannot build the image tar: {e}"));
    let mut dirs: BTreeSet<PathBuf> = ["tmp", "state"].iter().map(PathBuf::from).collect();
    let mut lib_dirs = Vec::new();
    for lib in &libs {
        let rel = lib.strip_prefix("/").unwrap_or(lib);
        for anc in rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
            dirs.insert(anc.to_path_buf());
        }
        if let Some(parent) = lib.parent().map(|p| p.display().to_string()) {
            if !lib_dirs.contains(&parent) {
                lib_dirs.push(parent);
            }
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    // Sorted, so each directory comes before what it holds.
    for dir in &dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == Path::new("tmp") { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_mtime(0);
        builder.append_data(&mut h, dir, std::io::empty()).map_err(tar_err)?;
    }
    let mut files = vec![(exe.to_path_buf(), PathBuf::from(EXE_IN_IMAGE))];
    files.extend(libs.iter().map(|l| (l.clone(), l.strip_prefix("/").unwrap_or(l).to_path_buf())));
    for (host, inside) in files {
        // Read through symlinks (/lib64/ld-linux-x86-64.so.2 is one): the image
        // gets the file itself at the path the binary names.
        let data =
            std::fs::read(&host).map_err(|source| DockerError::AgentExe { path: host.clone(), source })?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        builder.append_data(&mut h, &inside, data.as_slice()).map_err(tar_err)?;
    }
    let tar = builder.into_inner().map_err(tar_err)?;
    Ok((tar, lib_dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_output_of_a_glibc_binary() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let libs = parse_ldd(out).unwrap();
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error_naming_it() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn static_executables_need_no_libraries() {
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }

    #[test]
    fn the_tar_holds_the_binary_its_libraries_and_the_interpreter() {
        // /bin/sh is a dynamically linked glibc binary on every Debian host.
        let sh = Path::new("/bin/sh");
        let (tar, lib_dirs) = build_tar(sh).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert!(names.contains(&"faultlab".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("libc.so.6")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("ld-linux")), "{names:?}");
        assert!(names.iter().any(|n| n == "tmp" || n == "tmp/"), "{names:?}");
        assert!(names.iter().any(|n| n == "state" || n == "state/"), "{names:?}");
        assert!(!lib_dirs.is_empty());
    }

    #[test]
    fn the_tag_is_twelve_hex_digits_and_stable() {
        let sh = Path::new("/bin/sh");
        let a = hash_tag(sh).unwrap();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, hash_tag(sh).unwrap());
    }
}
