//! A seeded generator of pod specs for the Pod Security Standards proof: it varies every field
//! a check of k8s.io/pod-security-admission reads, on the pod and on containers, init containers
//! and ephemeral containers, and keeps each spec valid for the apiserver's validation (so that
//! the apiserver's verdict on it is Pod Security Admission's, not a validation error): no Linux
//! fields on Windows pods, `procMount: Unmasked` only with `hostUsers: false`, which excludes
//! the host namespaces, host ports equal to the container port under `hostNetwork`, no
//! network sysctls with `hostNetwork` nor IPC ones with `hostIPC`, AppArmor annotations only
//! where no field contradicts them, `privileged` never beside `allowPrivilegeEscalation: false`,
//! probes and lifecycle handlers only on regular containers.

use serde_json::{Map, Value, json};

/// xorshift64*: small, deterministic, so a failing spec is named by its seed and index.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `choices`, each with its weight.
    pub fn weighted<T: Clone>(&mut self, choices: &[(usize, T)]) -> T {
        let total: usize = choices.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for (weight, value) in choices {
            if roll < *weight {
                return value.clone();
            }
            roll -= weight;
        }
        choices[choices.len() - 1].1.clone()
    }

    pub fn pick<T: Clone>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len())].clone()
    }
}

/// What a container's generator must respect of its pod.
#[derive(Clone, Copy)]
pub struct PodContext {
    pub windows: bool,
    pub linux_only: bool,
    pub host_process: bool,
    pub user_namespace: bool,
}

const SECCOMP: [(usize, Option<&str>); 4] = [
    (50, None),
    (22, Some("RuntimeDefault")),
    (12, Some("Localhost")),
    (16, Some("Unconfined")),
];

fn seccomp(rng: &mut Rng, weights: &[(usize, Option<&str>)]) -> Option<Value> {
    let kind = rng.weighted(weights)?;
    Some(if kind == "Localhost" {
        json!({"type": kind, "localhostProfile": "profiles/audit.json"})
    } else {
        json!({"type": kind})
    })
}

fn app_armor(rng: &mut Rng, unset: usize) -> Option<Value> {
    let kind = rng.weighted(&[
        (unset, None),
        (8, Some("RuntimeDefault")),
        (6, Some("Localhost")),
        (10, Some("Unconfined")),
    ])?;
    Some(if kind == "Localhost" {
        json!({"type": kind, "localhostProfile": "k8s-apparmor-example"})
    } else {
        json!({"type": kind})
    })
}

fn se_linux(rng: &mut Rng) -> Value {
    let mut options = Map::new();
    if rng.chance(80) {
        let selinux_type = rng.pick(&[
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
            "spc_t",
            "unconfined_t",
            "",
        ]);
        options.insert("type".into(), json!(selinux_type));
    }
    for (key, value) in [
        ("user", "system_u"),
        ("role", "system_r"),
        ("level", "s0:c1,c2"),
    ] {
        if rng.chance(20) {
            let chosen = if rng.chance(25) { "" } else { value };
            options.insert(key.into(), json!(chosen));
        }
    }
    Value::Object(options)
}

fn bool_or_unset(rng: &mut Rng, unset: usize, yes: usize, no: usize) -> Option<bool> {
    rng.weighted(&[(unset, None), (yes, Some(true)), (no, Some(false))])
}

/// A container's security context under `pod`.
pub fn container_security_context(rng: &mut Rng, pod: PodContext) -> Option<Value> {
    if rng.chance(12) {
        return None;
    }
    let mut sc = Map::new();
    let put = |sc: &mut Map<String, Value>, key: &str, value: Option<Value>| {
        if let Some(v) = value {
            sc.insert(key.into(), v);
        }
    };
    if !pod.windows {
        let privileged = bool_or_unset(rng, 80, 10, 10);
        let mut escalation = bool_or_unset(rng, 22, 63, 15);
        if privileged == Some(true) && escalation == Some(false) {
            escalation = None;
        }
        put(&mut sc, "privileged", privileged.map(Value::Bool));
        put(
            &mut sc,
            "allowPrivilegeEscalation",
            escalation.map(Value::Bool),
        );
        if rng.chance(85) {
            let mut caps = Map::new();
            let drop = rng.weighted(&[
                (70, json!(["ALL"])),
                (8, json!(["NET_RAW"])),
                (5, json!(["all"])),
                (5, json!([])),
                (12, json!(["NET_RAW", "ALL"])),
            ]);
            if !rng.chance(10) {
                caps.insert("drop".into(), drop);
            }
            if rng.chance(25) {
                let mut add: Vec<&str> = Vec::new();
                for _ in 0..1 + rng.below(2) {
                    // The runtime's default set, the one restricted allows, near misses
                    // (case, prefix) and capabilities outside every set.
                    let cap = rng.pick(&[
                        "NET_BIND_SERVICE",
                        "NET_BIND_SERVICE",
                        "AUDIT_WRITE",
                        "CHOWN",
                        "DAC_OVERRIDE",
                        "FOWNER",
                        "FSETID",
                        "KILL",
                        "MKNOD",
                        "SETFCAP",
                        "SETGID",
                        "SETPCAP",
                        "SETUID",
                        "SYS_CHROOT",
                        "SYS_ADMIN",
                        "NET_RAW",
                        "SYS_TIME",
                        "sys_admin",
                        "net_bind_service",
                        "CAP_CHOWN",
                        "ALL",
                    ]);
                    if !add.contains(&cap) {
                        add.push(cap);
                    }
                }
                caps.insert("add".into(), json!(add));
            }
            sc.insert("capabilities".into(), Value::Object(caps));
        }
        if rng.chance(12) {
            let mount = if pod.user_namespace && rng.chance(70) {
                "Unmasked"
            } else {
                "Default"
            };
            sc.insert("procMount".into(), json!(mount));
        }
        let user = rng.weighted(&[(65, None), (15, Some(0)), (20, Some(1000))]);
        put(&mut sc, "runAsUser", user.map(|u| json!(u)));
        put(&mut sc, "seccompProfile", seccomp(rng, &SECCOMP));
        put(&mut sc, "appArmorProfile", app_armor(rng, 76));
        if rng.chance(14) {
            sc.insert("seLinuxOptions".into(), se_linux(rng));
        }
    }
    let non_root = bool_or_unset(rng, 55, 30, 15);
    put(&mut sc, "runAsNonRoot", non_root.map(Value::Bool));
    if !pod.linux_only {
        if pod.host_process && rng.chance(30) {
            sc.insert("windowsOptions".into(), json!({"hostProcess": true}));
        } else if !pod.host_process && rng.chance(10) {
            sc.insert("windowsOptions".into(), json!({"hostProcess": false}));
        }
    }
    Some(Value::Object(sc))
}

fn host_action(rng: &mut Rng, port: u16) -> Value {
    let host = rng.weighted(&[
        (45, None),
        (15, Some("")),
        (25, Some("10.0.0.1")),
        (15, Some("example.com")),
    ]);
    let mut action = json!({"port": port});
    if let Some(host) = host {
        action["host"] = json!(host);
    }
    if rng.chance(50) {
        json!({"httpGet": action})
    } else {
        json!({"tcpSocket": action})
    }
}

/// A generated pod: two in five as drawn, the rest with most of what breaks a restricted check
/// repaired (each kind of fault kept with a small chance), so that the corpus holds many pods
/// on the edge of the profile, passing it or failing one or two checks, not only hopeless ones.
pub fn pod(rng: &mut Rng, name: &str) -> Value {
    let mut pod = drawn_pod(rng, name);
    if !rng.chance(40) {
        let repair = rng.pick(&[88, 94, 98]);
        mostly_repaired(rng, &mut pod, repair);
    }
    pod
}

/// Removes what breaks a restricted check, each kind of fault with `percent` chance, keeping the
/// spec valid.
fn mostly_repaired(rng: &mut Rng, pod: &mut Value, percent: usize) {
    let windows = pod["spec"]["os"]["name"] == "windows";
    let spec = pod["spec"].as_object_mut().expect("spec");
    let fix = |rng: &mut Rng| rng.chance(percent);
    // On the pod, or on its containers alone.
    let host_process = |spec: &Map<String, Value>| {
        let set = |sc: Option<&Value>| {
            sc.and_then(|sc| sc.pointer("/windowsOptions/hostProcess")) == Some(&json!(true))
        };
        set(spec.get("securityContext"))
            || ["containers", "initContainers"].iter().any(|list| {
                spec.get(*list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| set(c.get("securityContext")))
            })
    };
    if host_process(spec) && fix(rng) {
        if let Some(sc) = spec
            .get_mut("securityContext")
            .and_then(Value::as_object_mut)
        {
            sc.remove("windowsOptions");
        }
        for list in ["containers", "initContainers"] {
            for c in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(sc) = c.get_mut("securityContext").and_then(Value::as_object_mut) {
                    sc.remove("windowsOptions");
                }
            }
        }
    }
    for key in ["hostPID", "hostIPC"] {
        if fix(rng) {
            spec.remove(key);
        }
    }
    if !host_process(spec) && fix(rng) {
        spec.remove("hostNetwork");
    }
    if fix(rng)
        && let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut)
    {
        for (i, v) in volumes.iter_mut().enumerate() {
            *v = json!({"name": format!("v{i}"), "emptyDir": {}});
        }
    }
    let psc = spec
        .entry("securityContext")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("securityContext");
    if fix(rng) {
        psc.insert("runAsNonRoot".into(), json!(true));
    }
    if !windows {
        if psc.get("runAsUser") == Some(&json!(0)) && fix(rng) {
            psc.insert("runAsUser".into(), json!(1000));
        }
        if fix(rng) {
            psc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
        }
        for key in ["appArmorProfile", "seLinuxOptions", "sysctls"] {
            if fix(rng) {
                psc.remove(key);
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let c = c.as_object_mut().expect("container");
            if fix(rng) {
                c.remove("ports");
            }
            for key in [
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
                "lifecycle",
            ] {
                if fix(rng) {
                    c.remove(key);
                }
            }
            if windows {
                continue;
            }
            let sc = c
                .entry("securityContext")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("securityContext");
            if fix(rng) {
                sc.remove("privileged");
            }
            if sc.get("privileged") != Some(&json!(true)) && fix(rng) {
                sc.insert("allowPrivilegeEscalation".into(), json!(false));
            }
            if fix(rng) {
                let add = if rng.chance(20) {
                    json!(["NET_BIND_SERVICE"])
                } else {
                    json!([])
                };
                sc.insert("capabilities".into(), json!({"drop": ["ALL"], "add": add}));
            }
            for key in [
                "procMount",
                "appArmorProfile",
                "seLinuxOptions",
                "seccompProfile",
            ] {
                if fix(rng) {
                    sc.remove(key);
                }
            }
            if sc.get("runAsNonRoot") == Some(&json!(false)) && fix(rng) {
                sc.remove("runAsNonRoot");
            }
            if sc.get("runAsUser") == Some(&json!(0)) && fix(rng) {
                sc.remove("runAsUser");
            }
        }
    }
    if fix(rng)
        && let Some(annotations) = pod["metadata"]["annotations"].as_object_mut()
    {
        annotations.retain(|_, v| v != "unconfined");
    }
    // Validation wants seccomp's alpha annotation to match a pod-level field set above.
    if pod["spec"]["securityContext"]
        .get("seccompProfile")
        .is_some()
        && let Some(annotations) = pod["metadata"]["annotations"].as_object_mut()
    {
        annotations.remove("seccomp.security.alpha.kubernetes.io/pod");
    }
}

/// A pod with every field drawn independently.
fn drawn_pod(rng: &mut Rng, name: &str) -> Value {
    let os = rng.weighted(&[(74, None), (13, Some("linux")), (13, Some("windows"))]);
    let windows = os == Some("windows");
    let host_process = windows && rng.chance(40);
    let user_namespace = !windows && rng.chance(14);
    let host_network = host_process || (!user_namespace && rng.chance(10));
    let host_ipc = !windows && !user_namespace && rng.chance(8);
    let host_pid = !windows && !user_namespace && rng.chance(8);
    let context = PodContext {
        windows,
        linux_only: os == Some("linux"),
        host_process,
        user_namespace,
    };
    let mut spec = Map::new();
    if let Some(os) = os {
        spec.insert("os".into(), json!({"name": os}));
    }
    for (key, on) in [
        ("hostNetwork", host_network),
        ("hostIPC", host_ipc),
        ("hostPID", host_pid),
    ] {
        if on {
            spec.insert(key.into(), json!(true));
        } else if rng.chance(5) {
            spec.insert(key.into(), json!(false));
        }
    }
    if user_namespace {
        spec.insert("hostUsers".into(), json!(false));
    } else if !windows && rng.chance(5) {
        spec.insert("hostUsers".into(), json!(true));
    }

    let mut psc = Map::new();
    if let Some(v) = bool_or_unset(rng, 45, 40, 15) {
        psc.insert("runAsNonRoot".into(), json!(v));
    }
    if !windows {
        if let Some(u) = rng.weighted(&[(60, None), (15, Some(0)), (25, Some(1000))]) {
            psc.insert("runAsUser".into(), json!(u));
        }
        if let Some(p) = seccomp(
            rng,
            &[
                (30, None),
                (40, Some("RuntimeDefault")),
                (15, Some("Localhost")),
                (15, Some("Unconfined")),
            ],
        ) {
            psc.insert("seccompProfile".into(), p);
        }
        if let Some(p) = app_armor(rng, 70) {
            psc.insert("appArmorProfile".into(), p);
        }
        if rng.chance(14) {
            psc.insert("seLinuxOptions".into(), se_linux(rng));
        }
        if rng.chance(20) {
            let mut sysctls: Vec<&str> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let name = rng.pick(&[
                    "kernel.shm_rmid_forced",
                    "net.ipv4.ip_local_port_range",
                    "net.ipv4.tcp_syncookies",
                    "net.ipv4.ping_group_range",
                    "net.ipv4.ip_unprivileged_port_start",
                    "net.ipv4.ip_local_reserved_ports",
                    "net.ipv4.tcp_keepalive_time",
                    "net.ipv4.tcp_fin_timeout",
                    "net.ipv4.tcp_keepalive_intvl",
                    "net.ipv4.tcp_keepalive_probes",
                    "net.ipv4.tcp_rmem",
                    "net.ipv4.tcp_wmem",
                    "kernel.msgmax",
                    "net.core.somaxconn",
                    "kernel.sem",
                    // The slash form the apiserver accepts and PSA compares as written.
                    "net/ipv4/tcp_syncookies",
                    "kernel/shm_rmid_forced",
                ]);
                let network = name.starts_with("net.") || name.starts_with("net/");
                let ipc = name.starts_with("kernel.") || name.starts_with("kernel/");
                if (network && host_network) || (ipc && host_ipc) || sysctls.contains(&name) {
                    continue;
                }
                sysctls.push(name);
            }
            if !sysctls.is_empty() {
                let list: Vec<Value> = sysctls
                    .iter()
                    .map(|n| json!({"name": n, "value": "1"}))
                    .collect();
                psc.insert("sysctls".into(), json!(list));
            }
        }
    }
    // HostProcess set on the pod, or on every container alone (then `fix_host_process` below).
    let host_process_on_containers = host_process && rng.chance(30);
    if host_process && !host_process_on_containers {
        psc.insert("windowsOptions".into(), json!({"hostProcess": true}));
    } else if !host_process && !context.linux_only && rng.chance(8) {
        psc.insert("windowsOptions".into(), json!({"hostProcess": false}));
    }
    let pod_app_armor = psc.contains_key("appArmorProfile");
    if !psc.is_empty() || rng.chance(50) {
        spec.insert("securityContext".into(), Value::Object(psc));
    }

    if rng.chance(40) {
        let mut volumes = Vec::new();
        for i in 0..1 + rng.below(3) {
            let source = rng.pick(&[
                json!({"configMap": {"name": "c"}}),
                json!({"secret": {"secretName": "s"}}),
                json!({"emptyDir": {}}),
                json!({"persistentVolumeClaim": {"claimName": "p"}}),
                json!({"projected": {"sources": [{"configMap": {"name": "c"}}]}}),
                json!({"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}),
                json!({"csi": {"driver": "csi.example.com"}}),
                json!({"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}),
                json!({"hostPath": {"path": "/"}}),
                json!({"hostPath": {"path": "/var/log", "type": "Directory"}}),
                json!({"nfs": {"server": "nfs.example.com", "path": "/export"}}),
                json!({"gitRepo": {"repository": "https://example.com/repo.git"}}),
                json!({"awsElasticBlockStore": {"volumeID": "vol-1"}}),
                json!({"flexVolume": {"driver": "example.com/flex"}}),
                json!({"cephfs": {"monitors": ["10.0.0.1:6789"]}}),
                json!({"image": {"reference": "registry.k8s.io/pause:3.10"}}),
                json!({"gcePersistentDisk": {"pdName": "p"}}),
                json!({"iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:disk", "lun": 0}}),
                json!({"glusterfs": {"endpoints": "e", "path": "p"}}),
                json!({"rbd": {"monitors": ["10.0.0.1:6789"], "image": "i"}}),
                json!({"cinder": {"volumeID": "v"}}),
                json!({"flocker": {"datasetName": "d"}}),
                json!({"fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 0}}),
                json!({"azureFile": {"secretName": "s", "shareName": "x"}}),
                json!({"azureDisk": {"diskName": "d", "diskURI": "https://a.blob.core.windows.net/v/d.vhd"}}),
                json!({"vsphereVolume": {"volumePath": "[ds] v.vmdk"}}),
                json!({"quobyte": {"registry": "r:7861", "volume": "v"}}),
                json!({"photonPersistentDisk": {"pdID": "p"}}),
                json!({"portworxVolume": {"volumeID": "v"}}),
                json!({"scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "s"}, "volumeName": "v"}}),
                json!({"storageos": {"volumeName": "v"}}),
                json!({}),
            ]);
            let mut volume = source;
            volume["name"] = json!(format!("v{i}"));
            volumes.push(volume);
        }
        spec.insert("volumes".into(), json!(volumes));
    }

    let mut annotations = Map::new();
    // Seccomp's alpha annotations no longer count (PSA reads only the fields since 1.19);
    // validation wants one beside a pod-level field to match it, so only where there is none.
    let pod_seccomp = spec
        .get("securityContext")
        .and_then(|sc| sc.get("seccompProfile"))
        .is_some();
    if !windows && !pod_seccomp && rng.chance(5) {
        annotations.insert(
            "seccomp.security.alpha.kubernetes.io/pod".into(),
            json!(rng.pick(&["unconfined", "runtime/default"])),
        );
    }
    let mut next_port = 8000u16;
    let mut containers = Vec::new();
    let mut init_containers = Vec::new();
    let regular = 1 + rng.below(3);
    let init = rng.weighted(&[(60, 0), (30, 1), (10, 2)]);
    for (list, count, prefix) in [
        (&mut containers, regular, "c"),
        (&mut init_containers, init, "i"),
    ] {
        for i in 0..count {
            let container_name = format!("{prefix}{i}");
            let mut c = json!({"name": container_name, "image": "registry.k8s.io/pause:3.10"});
            let sc = container_security_context(rng, context);
            let own_app_armor = sc
                .as_ref()
                .is_some_and(|s| s.get("appArmorProfile").is_some());
            if let Some(sc) = sc {
                c["securityContext"] = sc;
            }
            if !pod_app_armor && !own_app_armor && rng.chance(10) {
                let value = rng.pick(&[
                    "",
                    "runtime/default",
                    "localhost/k8s-apparmor-example",
                    "unconfined",
                ]);
                annotations.insert(
                    format!("container.apparmor.security.beta.kubernetes.io/{container_name}"),
                    json!(value),
                );
            }
            if rng.chance(25) {
                let mut ports = Vec::new();
                for _ in 0..1 + rng.below(2) {
                    let port = next_port;
                    next_port += 1;
                    let mut p = json!({"containerPort": port});
                    if host_network {
                        if rng.chance(40) {
                            p["hostPort"] = json!(port);
                        }
                    } else {
                        match rng.below(10) {
                            0..=5 => {}
                            6 => p["hostPort"] = json!(0),
                            _ => p["hostPort"] = json!(port + 10000),
                        }
                    }
                    ports.push(p);
                }
                c["ports"] = json!(ports);
            }
            // An init container with restartPolicy Always is a sidecar, which may have probes
            // and lifecycle hooks as regular containers do.
            let sidecar = prefix == "i" && rng.chance(30);
            if sidecar {
                c["restartPolicy"] = json!("Always");
            }
            if prefix == "c" || sidecar {
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    if rng.chance(10) {
                        c[probe] = host_action(rng, 8080);
                    }
                }
                if rng.chance(15) {
                    let mut lifecycle = Map::new();
                    for hook in ["postStart", "preStop"] {
                        if rng.chance(60) {
                            lifecycle.insert(hook.into(), host_action(rng, 8081));
                        }
                    }
                    if !lifecycle.is_empty() {
                        c["lifecycle"] = Value::Object(lifecycle);
                    }
                }
            }
            list.push(c);
        }
    }
    if host_process_on_containers {
        for c in containers.iter_mut().chain(init_containers.iter_mut()) {
            c["securityContext"]["windowsOptions"] = json!({"hostProcess": true});
        }
    }
    spec.insert("containers".into(), json!(containers));
    if !init_containers.is_empty() {
        spec.insert("initContainers".into(), json!(init_containers));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    })
}

/// Ephemeral containers to add to a running pod, valid beside what `pod` says of it.
pub fn ephemeral_containers(rng: &mut Rng, pod: &Value) -> Value {
    let context = PodContext {
        windows: pod["spec"]["os"]["name"] == "windows",
        linux_only: pod["spec"]["os"]["name"] != "windows",
        host_process: false,
        user_namespace: pod["spec"]["hostUsers"] == json!(false),
    };
    let list: Vec<Value> = (0..1 + rng.below(2))
        .map(|i| {
            let mut c = json!({"name": format!("e{i}"), "image": "registry.k8s.io/pause:3.10"});
            if let Some(sc) = container_security_context(rng, context) {
                c["securityContext"] = sc;
            }
            c
        })
        .collect();
    json!(list)
}
