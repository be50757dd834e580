//! The load balancer's configuration, rendered for every mode and environment, is accepted by
//! the real nginx (`nginx -t`). The container modes are checked with the paths and host names
//! they will have in their containers, inside a private mount namespace.

use std::path::{Path, PathBuf};
use std::process::Command;

use clip_fleet::nginx::{NginxSettings, Upstream};
use clip_fleet::{Environment, Mode, Profile};

fn nginx_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    PathBuf::from("nginx")
}

fn self_signed_certificate(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("tls.key"))
        .arg("-out")
        .arg(dir.join("tls.crt"))
        .output()
        .expect("openssl runs (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A local fleet's directory as scripts/deploy-scaling.sh lays it out, with three instances.
fn local_fleet_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["logs", "nginx/tmp", "nginx/cache"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    self_signed_certificate(&dir.path().join("nginx/tls"));
    std::fs::write(
        dir.path().join("nginx/upstream.conf"),
        "server 127.0.0.1:4001 max_fails=3 fail_timeout=10s;\n\
         server 127.0.0.1:4002 max_fails=3 fail_timeout=10s;\n\
         server 127.0.0.1:4003 max_fails=3 fail_timeout=10s;\n",
    )
    .unwrap();
    dir
}

fn nginx_t(config: &Path) -> (bool, String) {
    let out = Command::new(nginx_binary())
        .arg("-t")
        .arg("-c")
        .arg(config)
        .args(["-e", "stderr"])
        .output()
        .expect("nginx runs (scripts/install-deps.sh installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_local(settings: &NginxSettings, dir: &Path) {
    let conf = dir.join("nginx/nginx.conf");
    std::fs::write(&conf, settings.render().unwrap()).unwrap();
    let (ok, log) = nginx_t(&conf);
    assert!(
        ok && log.contains("test is successful"),
        "nginx -t refused the local config ({}, session_affinity={}, tls={}):\n{log}",
        settings.profile.environment,
        settings.session_affinity,
        settings.tls
    );
}

#[test]
fn local_mode_passes_nginx_t_in_every_environment_and_variant() {
    let dir = local_fleet_dir();
    let root = dir.path().to_str().unwrap();
    for env in Environment::ALL {
        let mut s = NginxSettings::for_mode(Mode::Local, Profile::for_environment(env), root);
        check_local(&s, dir.path());
        s.session_affinity = true;
        s.rate_limit_exempt = vec!["127.0.0.1/32".into()];
        s.trusted_proxies = vec!["10.0.0.0/8".into()];
        check_local(&s, dir.path());
        s.tls = false;
        check_local(&s, dir.path());
    }
}

#[test]
fn nginx_t_catches_a_broken_config() {
    // The check above means something only if nginx -t fails on a bad file.
    let dir = local_fleet_dir();
    let root = dir.path().to_str().unwrap();
    let mut s = NginxSettings::for_mode(
        Mode::Local,
        Profile::for_environment(Environment::Production),
        root,
    );
    s.tls_certificate = format!("{root}/nginx/tls/missing.crt");
    let conf = dir.path().join("nginx/nginx.conf");
    std::fs::write(&conf, s.render().unwrap()).unwrap();
    let (ok, log) = nginx_t(&conf);
    assert!(!ok && log.contains("missing.crt"), "{log}");
}

/// Runs `nginx -t` on a container-mode config where the container would have it: under
/// `/etc/nginx`, with `/var/cache/nginx` and the upstream's host name resolving, in a private
/// mount namespace so the host's files are untouched.
fn check_in_container_layout(mode: Mode, env: Environment, upstream_host: &str) {
    let work = tempfile::tempdir().unwrap();
    let settings = NginxSettings::for_mode(mode, Profile::for_environment(env), "");
    std::fs::write(work.path().join("nginx.conf"), settings.render().unwrap()).unwrap();
    self_signed_certificate(&work.path().join("tls"));
    std::fs::write(
        work.path().join("hosts"),
        format!("127.0.0.1 localhost {upstream_host}\n"),
    )
    .unwrap();
    std::fs::copy("/etc/nginx/mime.types", work.path().join("mime.types"))
        .expect("Debian's nginx package provides /etc/nginx/mime.types");
    let script = format!(
        r#"set -e
w="{w}"
mount -t tmpfs none /etc/nginx
mkdir -p /etc/nginx/tls
cp "$w/nginx.conf" "$w/mime.types" /etc/nginx/
cp "$w/tls/tls.crt" "$w/tls/tls.key" /etc/nginx/tls/
mount -t tmpfs none /var/cache
mkdir -p /var/cache/nginx
mount --bind "$w/hosts" /etc/hosts
exec {nginx} -t -c /etc/nginx/nginx.conf -e stderr"#,
        w = work.path().display(),
        nginx = nginx_binary().display(),
    );
    let mut unshare = Command::new("unshare");
    // Unprivileged users get their mount namespace inside a user namespace.
    if !is_root() {
        unshare.arg("--map-root-user");
    }
    let out = unshare
        .args(["--mount", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux) runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && log.contains("test is successful"),
        "nginx -t refused the {} config ({env}):\n{log}",
        mode.name()
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

#[test]
fn docker_compose_mode_passes_nginx_t_as_its_container_sees_it() {
    for env in Environment::ALL {
        check_in_container_layout(Mode::DockerCompose, env, "app");
    }
}

#[test]
fn kubernetes_mode_passes_nginx_t_as_its_pod_sees_it() {
    let host = clip_fleet::kubernetes::APP_SERVICE_ADDRESS
        .split(':')
        .next()
        .unwrap();
    for env in Environment::ALL {
        check_in_container_layout(Mode::Kubernetes, env, host);
    }
}

#[test]
fn the_config_carries_what_the_issue_asks_for() {
    let p = Profile::for_environment(Environment::Production);
    let mut s = NginxSettings::for_mode(Mode::DockerCompose, p.clone(), "");
    let conf = s.render().unwrap();
    for needle in [
        "zone clip_app",
        "max_fails=3 fail_timeout=10s",
        "proxy_next_upstream error timeout http_502 http_503;",
        "proxy_next_upstream_tries 3;",
        "keepalive 64;",
        "proxy_read_timeout 30s;",
        "limit_req zone=clip_api burst=100 nodelay;",
        "limit_req zone=clip_uploads",
        "limit_req zone=clip_images",
        "limit_req_status 429;",
        "return 301 https://$host$request_uri;",
        "add_header Strict-Transport-Security $clip_hsts always;",
        "\"\" \"max-age=63072000; includeSubDomains\";",
        "add_header X-Content-Type-Options $clip_content_type_options always;",
        "\"\" \"nosniff\";",
        "add_header X-Frame-Options $clip_frame_options always;",
        "\"\" \"DENY\";",
        "add_header Referrer-Policy $clip_referrer_policy always;",
        "stub_status;",
        "proxy_cache clip_static;",
        "X-Forwarded-For $proxy_add_x_forwarded_for",
        "X-Forwarded-Proto $scheme",
        "least_conn;",
    ] {
        assert!(conf.contains(needle), "missing `{needle}`");
    }
    assert!(!conf.contains("hash $clip_affinity_key"));
    // Each upload route passes what the app accepts there: images, and videos.
    for (route, limit) in [
        (
            "location ~ ^/api/projects/[^/]+/assets$",
            p.upload_max_bytes,
        ),
        ("location ~ ^/api/projects/[^/]+/videos$", p.video_max_bytes),
    ] {
        let block = &conf[conf
            .find(route)
            .unwrap_or_else(|| panic!("missing `{route}`"))..];
        let block = &block[..block.find('}').unwrap()];
        assert!(
            block.contains(&format!("client_max_body_size {limit};")),
            "{route}: {block}"
        );
    }

    s.session_affinity = true;
    let sticky = s.render().unwrap();
    assert!(sticky.contains("hash $clip_affinity_key consistent;"));
    assert!(!sticky.contains("least_conn;"));

    s.upstream = Upstream::Servers(Vec::new());
    assert!(
        s.render()
            .unwrap_err()
            .to_string()
            .contains("no app instance")
    );
}
