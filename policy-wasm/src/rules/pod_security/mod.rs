//! The Pod Security Standards, baseline and restricted, as Kubernetes 1.35's own Pod Security
//! Admission (k8s.io/pod-security-admission v0.35) decides them: one file per control, named as
//! the standard names it, each check under the id PSA gives it so a verdict can be compared
//! with the apiserver's word for word (`tests/pod-security/` does, over generated pods).
//!
//! A profile is a list of checks: restricted is every baseline check except the four it
//! replaces with a stricter one (capabilities, hostPath volumes → volume types, seccomp,
//! /proc mount), plus its own.

mod app_armor;
mod capabilities;
mod host_namespaces;
mod host_path_volumes;
mod host_ports;
mod host_probes;
mod host_process;
mod privilege_escalation;
mod privileged;
mod proc_mount;
mod running_as_non_root;
mod running_as_non_root_user;
mod se_linux;
mod seccomp;
mod sysctls;
mod volume_types;

use k8s_openapi::api::core::v1::PodSecurityContext;
use serde::{Deserialize, Serialize};

use super::{PodFields, Violation};

pub use app_armor::ANNOTATION_PREFIX as APP_ARMOR_ANNOTATION_PREFIX;

/// Which Pod Security Standards profile the rules enforce (`podSecurity` in the settings).
/// `none` is the standard's "privileged": no check at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Profile {
    #[default]
    Restricted,
    Baseline,
    None,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Restricted => "restricted",
            Profile::Baseline => "baseline",
            Profile::None => "none",
        }
    }

    /// The checks of the profile, in the order violations are listed.
    pub fn checks(self) -> &'static [Check] {
        use Check::*;
        match self {
            Profile::Restricted => &[
                HostProcess,
                HostNamespaces,
                Privileged,
                CapabilitiesRestricted,
                VolumeTypes,
                HostPorts,
                HostProbesAndLifecycle,
                AppArmor,
                SeLinux,
                ProcMountRestricted,
                SeccompRestricted,
                Sysctls,
                PrivilegeEscalation,
                RunningAsNonRoot,
                RunningAsNonRootUser,
            ],
            Profile::Baseline => &[
                HostProcess,
                HostNamespaces,
                Privileged,
                CapabilitiesBaseline,
                HostPathVolumes,
                HostPorts,
                HostProbesAndLifecycle,
                AppArmor,
                SeLinux,
                ProcMountBaseline,
                SeccompBaseline,
                Sysctls,
            ],
            Profile::None => &[],
        }
    }
}

/// One check of the standard. Its [`id`](Check::id) is Pod Security Admission's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    HostProcess,
    HostNamespaces,
    Privileged,
    CapabilitiesBaseline,
    HostPathVolumes,
    HostPorts,
    HostProbesAndLifecycle,
    AppArmor,
    SeLinux,
    ProcMountBaseline,
    SeccompBaseline,
    Sysctls,
    VolumeTypes,
    PrivilegeEscalation,
    RunningAsNonRoot,
    RunningAsNonRootUser,
    SeccompRestricted,
    CapabilitiesRestricted,
    ProcMountRestricted,
}

impl Check {
    pub const ALL: [Check; 19] = [
        Check::HostProcess,
        Check::HostNamespaces,
        Check::Privileged,
        Check::CapabilitiesBaseline,
        Check::HostPathVolumes,
        Check::HostPorts,
        Check::HostProbesAndLifecycle,
        Check::AppArmor,
        Check::SeLinux,
        Check::ProcMountBaseline,
        Check::SeccompBaseline,
        Check::Sysctls,
        Check::VolumeTypes,
        Check::PrivilegeEscalation,
        Check::RunningAsNonRoot,
        Check::RunningAsNonRootUser,
        Check::SeccompRestricted,
        Check::CapabilitiesRestricted,
        Check::ProcMountRestricted,
    ];

    /// The check's id in k8s.io/pod-security-admission (`policy/check_*.go`).
    pub fn id(self) -> &'static str {
        match self {
            Check::HostProcess => "windowsHostProcess",
            Check::HostNamespaces => "hostNamespaces",
            Check::Privileged => "privileged",
            Check::CapabilitiesBaseline => "capabilities_baseline",
            Check::HostPathVolumes => "hostPathVolumes",
            Check::HostPorts => "hostPorts",
            Check::HostProbesAndLifecycle => "hostProbesAndHostLifecycle",
            Check::AppArmor => "appArmorProfile",
            Check::SeLinux => "seLinuxOptions",
            Check::ProcMountBaseline => "procMount",
            Check::SeccompBaseline => "seccompProfile_baseline",
            Check::Sysctls => "sysctls",
            Check::VolumeTypes => "restrictedVolumes",
            Check::PrivilegeEscalation => "allowPrivilegeEscalation",
            Check::RunningAsNonRoot => "runAsNonRoot",
            Check::RunningAsNonRootUser => "runAsUser",
            Check::SeccompRestricted => "seccompProfile_restricted",
            Check::CapabilitiesRestricted => "capabilities_restricted",
            Check::ProcMountRestricted => "procMount_restricted",
        }
    }

    /// The control's name in the standard (kubernetes.io/docs/concepts/security/pod-security-standards).
    pub fn control(self) -> &'static str {
        match self {
            Check::HostProcess => "HostProcess",
            Check::HostNamespaces => "Host Namespaces",
            Check::Privileged => "Privileged Containers",
            Check::CapabilitiesBaseline | Check::CapabilitiesRestricted => "Capabilities",
            Check::HostPathVolumes => "HostPath Volumes",
            Check::HostPorts => "Host Ports",
            Check::HostProbesAndLifecycle => "Host Probes / Lifecycle Hooks",
            Check::AppArmor => "AppArmor",
            Check::SeLinux => "SELinux",
            Check::ProcMountBaseline | Check::ProcMountRestricted => "/proc Mount Type",
            Check::SeccompBaseline | Check::SeccompRestricted => "Seccomp",
            Check::Sysctls => "Sysctls",
            Check::VolumeTypes => "Volume Types",
            Check::PrivilegeEscalation => "Privilege Escalation",
            Check::RunningAsNonRoot => "Running as Non-root",
            Check::RunningAsNonRootUser => "Running as Non-root user",
        }
    }

    /// The reason Pod Security Admission's denial names for this check ("host namespaces",
    /// "runAsNonRoot != true"); two checks of different levels share one where the standard's
    /// control is the same.
    pub fn admission_reason(self) -> &'static str {
        match self {
            Check::HostProcess => "hostProcess",
            Check::HostNamespaces => "host namespaces",
            Check::Privileged => "privileged",
            Check::CapabilitiesBaseline => "non-default capabilities",
            Check::HostPathVolumes => "hostPath volumes",
            Check::HostPorts => "hostPort",
            Check::HostProbesAndLifecycle => "probe or lifecycle host",
            Check::AppArmor => "forbidden AppArmor profile",
            Check::SeLinux => "seLinuxOptions",
            Check::ProcMountBaseline | Check::ProcMountRestricted => "procMount",
            Check::SeccompBaseline | Check::SeccompRestricted => "seccompProfile",
            Check::Sysctls => "forbidden sysctls",
            Check::VolumeTypes => "restricted volume types",
            Check::PrivilegeEscalation => "allowPrivilegeEscalation != false",
            Check::RunningAsNonRoot => "runAsNonRoot != true",
            Check::RunningAsNonRootUser => "runAsUser=0",
            Check::CapabilitiesRestricted => "unrestricted capabilities",
        }
    }

    /// The profile whose checks include this one (restricted holds baseline's too).
    pub fn level(self) -> Profile {
        if Profile::Baseline.checks().contains(&self) {
            Profile::Baseline
        } else {
            Profile::Restricted
        }
    }

    /// What the check requires, in one sentence, for reports that describe their rules (SARIF).
    pub fn summary(self) -> &'static str {
        match self {
            Check::HostProcess => {
                "Windows HostProcess containers are not allowed (securityContext.windowsOptions.hostProcess must not be true)."
            }
            Check::HostNamespaces => {
                "The host's network, PID and IPC namespaces must not be shared (hostNetwork, hostPID, hostIPC)."
            }
            Check::Privileged => "Containers must not run privileged (securityContext.privileged).",
            Check::CapabilitiesBaseline => {
                "Containers may add only capabilities of the runtime's default set (securityContext.capabilities.add)."
            }
            Check::HostPathVolumes => "hostPath volumes are not allowed.",
            Check::HostPorts => {
                "Container ports must not be bound on the host (ports[*].hostPort)."
            }
            Check::HostProbesAndLifecycle => {
                "Probes and lifecycle hooks must not name a host (httpGet.host, tcpSocket.host)."
            }
            Check::AppArmor => {
                "The runtime's default AppArmor profile must not be turned off (appArmorProfile.type, the AppArmor annotations)."
            }
            Check::SeLinux => "seLinuxOptions may set only a container type, never user or role.",
            Check::ProcMountBaseline => {
                "securityContext.procMount must be Default (unmasked only in a user namespace)."
            }
            Check::ProcMountRestricted => "securityContext.procMount must be Default.",
            Check::SeccompBaseline => {
                "A seccomp profile that is set must be RuntimeDefault or Localhost."
            }
            Check::SeccompRestricted => {
                "Every container must run with a RuntimeDefault or Localhost seccomp profile, set on it or on the pod."
            }
            Check::Sysctls => "Only the sysctls Kubernetes calls safe may be set.",
            Check::VolumeTypes => {
                "Only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes are allowed."
            }
            Check::PrivilegeEscalation => {
                "Every container must set securityContext.allowPrivilegeEscalation: false."
            }
            Check::RunningAsNonRoot => {
                "Containers must run as non-root (runAsNonRoot: true on the pod or every container)."
            }
            Check::RunningAsNonRootUser => "runAsUser must not be 0 on the pod or any container.",
            Check::CapabilitiesRestricted => {
                "Every container must drop ALL capabilities and add none but NET_BIND_SERVICE."
            }
        }
    }

    /// Every violation of this check in the pod.
    pub fn run(self, pod: &PodFields) -> Vec<Violation> {
        match self {
            Check::HostProcess => host_process::check(pod),
            Check::HostNamespaces => host_namespaces::check(pod),
            Check::Privileged => privileged::check(pod),
            Check::CapabilitiesBaseline => capabilities::check_baseline(pod),
            Check::HostPathVolumes => host_path_volumes::check(pod),
            Check::HostPorts => host_ports::check(pod),
            Check::HostProbesAndLifecycle => host_probes::check(pod),
            Check::AppArmor => app_armor::check(pod),
            Check::SeLinux => se_linux::check(pod),
            Check::ProcMountBaseline => proc_mount::check_baseline(pod),
            Check::SeccompBaseline => seccomp::check_baseline(pod),
            Check::Sysctls => sysctls::check(pod),
            Check::VolumeTypes => volume_types::check(pod),
            Check::PrivilegeEscalation => privilege_escalation::check(pod),
            Check::RunningAsNonRoot => running_as_non_root::check(pod),
            Check::RunningAsNonRootUser => running_as_non_root_user::check(pod),
            Check::SeccompRestricted => seccomp::check_restricted(pod),
            Check::CapabilitiesRestricted => capabilities::check_restricted(pod),
            Check::ProcMountRestricted => proc_mount::check_restricted(pod),
        }
    }
}

impl Check {
    /// The check in CEL, for the ValidatingAdmissionPolicy (`kubectl bizra policy vap`): an
    /// expression over the variables of [`super::cel_parts::VARIABLES`] giving one message per
    /// violation, written as [`Violation`] displays it (`container "app": ... [runAsUser]`). It
    /// is written beside the check's Rust function, in its file.
    pub fn cel(self) -> String {
        match self {
            Check::HostProcess => host_process::cel(),
            Check::HostNamespaces => host_namespaces::cel(),
            Check::Privileged => privileged::cel(),
            Check::CapabilitiesBaseline => capabilities::cel_baseline(),
            Check::HostPathVolumes => host_path_volumes::cel(),
            Check::HostPorts => host_ports::cel(),
            Check::HostProbesAndLifecycle => host_probes::cel(),
            Check::AppArmor => app_armor::cel(),
            Check::SeLinux => se_linux::cel(),
            Check::ProcMountBaseline => proc_mount::cel_baseline(),
            Check::SeccompBaseline => seccomp::cel_baseline(),
            Check::Sysctls => sysctls::cel(),
            Check::VolumeTypes => volume_types::cel(),
            Check::PrivilegeEscalation => privilege_escalation::cel(),
            Check::RunningAsNonRoot => running_as_non_root::cel(),
            Check::RunningAsNonRootUser => running_as_non_root_user::cel(),
            Check::SeccompRestricted => seccomp::cel_restricted(),
            Check::CapabilitiesRestricted => capabilities::cel_restricted(),
            Check::ProcMountRestricted => proc_mount::cel_restricted(),
        }
    }
}

/// Every violation of the profile's checks, check by check.
pub fn check_pod_security(pod: &PodFields, profile: Profile) -> Vec<Violation> {
    profile
        .checks()
        .iter()
        .flat_map(|check| check.run(pod))
        .collect()
}

/// The checks of `profile` the pod fails, each once: what Pod Security Admission's verdict names.
pub fn failed_checks(pod: &PodFields, profile: Profile) -> Vec<Check> {
    profile
        .checks()
        .iter()
        .copied()
        .filter(|check| !check.run(pod).is_empty())
        .collect()
}

fn pod_context(pod: &PodFields) -> Option<&PodSecurityContext> {
    pod.security_context.as_ref()
}

/// `spec.os.name: windows`: several restricted checks do not apply to Windows pods.
fn is_windows(pod: &PodFields) -> bool {
    pod.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `spec.hostUsers: false` (a user namespace): since 1.35 the non-root checks and baseline's
/// /proc mount check let such a pod pass, its root being unprivileged on the host.
fn in_user_namespace(pod: &PodFields) -> bool {
    pod.host_users == Some(false)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::{Value, json};

    use super::super::PodFields;

    /// A pod that passes restricted, with `edit` applied to its JSON (metadata and spec) first.
    pub fn pod(edit: impl FnOnce(&mut Value)) -> PodFields {
        let mut value = json!({
            "metadata": {"annotations": {}},
            "spec": {
                "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "app",
                    "image": "registry.example/app:1",
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
                }]
            }
        });
        edit(&mut value);
        let mut pod: PodFields = serde_json::from_value(value["spec"].take()).expect("pod fixture");
        pod.annotations = serde_json::from_value(value["metadata"]["annotations"].take())
            .expect("annotations fixture");
        pod
    }

    /// `check`'s violations of the pod, as `field=value: message` lines.
    pub fn found(check: super::Check, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        check
            .run(&pod(edit))
            .into_iter()
            .map(|v| {
                assert_eq!(v.rule, super::super::Rule::PodSecurity(check));
                format!(
                    "{}={}: {}",
                    v.field,
                    v.value.as_deref().unwrap_or("<unset>"),
                    v.message
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::pod;
    use super::*;

    #[test]
    fn the_fixture_passes_both_profiles() {
        for profile in [Profile::Restricted, Profile::Baseline] {
            assert_eq!(check_pod_security(&pod(|_| {}), profile), [], "{profile:?}");
        }
    }

    #[test]
    fn restricted_replaces_four_baseline_checks_and_keeps_the_rest() {
        let restricted = Profile::Restricted.checks();
        let baseline = Profile::Baseline.checks();
        let replaced = [
            Check::CapabilitiesBaseline,
            Check::HostPathVolumes,
            Check::SeccompBaseline,
            Check::ProcMountBaseline,
        ];
        for check in baseline {
            assert_eq!(
                restricted.contains(check),
                !replaced.contains(check),
                "{check:?}"
            );
        }
        assert_eq!(restricted.len(), baseline.len() - 4 + 7);
        assert_eq!(Profile::None.checks(), []);
    }

    #[test]
    fn ids_are_unique_and_every_check_is_in_a_profile() {
        let mut ids: Vec<&str> = Check::ALL.iter().map(|c| c.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Check::ALL.len());
        for check in Check::ALL {
            assert!(
                Profile::Restricted.checks().contains(&check)
                    || Profile::Baseline.checks().contains(&check),
                "{check:?}"
            );
        }
    }

    #[test]
    fn a_root_pod_fails_the_non_root_checks_and_passes_baseline() {
        let root = pod(|v| {
            v["spec"]["securityContext"] =
                serde_json::json!({"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}})
        });
        assert_eq!(
            failed_checks(&root, Profile::Restricted),
            [Check::RunningAsNonRoot, Check::RunningAsNonRootUser]
        );
        assert_eq!(failed_checks(&root, Profile::Baseline), []);
    }
}
