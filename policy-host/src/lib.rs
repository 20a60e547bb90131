//! A waPC host on wasmtime, as Kubewarden's policy-server runs a policy: WASI preview 1 for the
//! module, the `wapc` imports for the guest protocol, and host calls (`kubewarden/oci/v2/verify`
//! and friends) answered by a handler the test supplies.
//!
//! waPC in short: the host stores the operation and payload, calls the guest's
//! `__guest_call(op_len, payload_len)`; the guest fetches them with `__guest_request`, answers
//! with `__guest_response` or `__guest_error`, and returns 1 or 0. A guest's `__host_call`
//! gets its answer from the handler, read back with `__host_response[_len]` or
//! `__host_error[_len]`.

pub mod cosign;
pub mod https;
pub mod kubewarden;
pub mod oci;
pub mod server;
pub mod sigstore_verify;

use std::path::{Path, PathBuf};

use wasmtime::{
    Caller, Engine, Extern, Instance, InstancePre, Linker, Module, Store, TypedFunc, bail,
    format_err,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};

/// Answers a guest's host call: (binding, namespace, operation, payload) -> response or error.
pub type HostCallHandler =
    Box<dyn FnMut(&str, &str, &str, &[u8]) -> Result<Vec<u8>, String> + Send>;

struct State {
    wasi: WasiP1Ctx,
    operation: Vec<u8>,
    payload: Vec<u8>,
    guest_response: Option<Vec<u8>>,
    guest_error: Option<String>,
    host_response: Vec<u8>,
    host_error: String,
    handler: HostCallHandler,
    host_calls: Vec<String>,
}

/// The compiled policy, ready to be called.
pub struct PolicyHost {
    store: Store<State>,
    guest_call: TypedFunc<(i32, i32), i32>,
}

/// The release build of the policy, where `cargo build -p policy-wasm --target wasm32-wasip1
/// --profile policy` puts it (or `$POLICY_WASM`).
pub fn default_policy_path() -> PathBuf {
    if let Ok(path) = std::env::var("POLICY_WASM") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("wasm32-wasip1/policy/policy_wasm.wasm")
}

fn memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => bail!("the guest exports no memory"),
    }
}

fn read(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let mut buf = vec![0; len as u32 as usize];
    memory
        .read(&caller, ptr as u32 as usize, &mut buf)
        .map_err(|e| format_err!("guest pointer out of bounds: {e}"))?;
    Ok(buf)
}

fn write(caller: &mut Caller<'_, State>, ptr: i32, data: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    memory
        .write(caller, ptr as u32 as usize, data)
        .map_err(|e| format_err!("guest pointer out of bounds: {e}"))
}

fn link_wapc(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut caller: Caller<'_, State>, op_ptr: i32, ptr: i32| -> wasmtime::Result<()> {
            let (operation, payload) = (
                caller.data().operation.clone(),
                caller.data().payload.clone(),
            );
            write(&mut caller, op_ptr, &operation)?;
            write(&mut caller, ptr, &payload)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_response",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let data = read(&mut caller, ptr, len)?;
            caller.data_mut().guest_response = Some(data);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_error",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let data = read(&mut caller, ptr, len)?;
            caller.data_mut().guest_error = Some(String::from_utf8_lossy(&data).into_owned());
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut caller: Caller<'_, State>,
         bd_ptr: i32,
         bd_len: i32,
         ns_ptr: i32,
         ns_len: i32,
         op_ptr: i32,
         op_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
            let binding = text(read(&mut caller, bd_ptr, bd_len)?);
            let namespace = text(read(&mut caller, ns_ptr, ns_len)?);
            let operation = text(read(&mut caller, op_ptr, op_len)?);
            let payload = read(&mut caller, ptr, len)?;
            let state = caller.data_mut();
            state
                .host_calls
                .push(format!("{binding}/{namespace}/{operation}"));
            match (state.handler)(&binding, &namespace, &operation, &payload) {
                Ok(response) => {
                    state.host_response = response;
                    Ok(1)
                }
                Err(error) => {
                    state.host_error = error;
                    Ok(0)
                }
            }
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |caller: Caller<'_, State>| -> i32 { caller.data().host_response.len() as i32 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |mut caller: Caller<'_, State>, ptr: i32| -> wasmtime::Result<()> {
            let data = caller.data().host_response.clone();
            write(&mut caller, ptr, &data)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error_len",
        |caller: Caller<'_, State>| -> i32 { caller.data().host_error.len() as i32 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut caller: Caller<'_, State>, ptr: i32| -> wasmtime::Result<()> {
            let data = caller.data().host_error.clone().into_bytes();
            write(&mut caller, ptr, &data)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let data = read(&mut caller, ptr, len)?;
            eprintln!("policy log: {}", String::from_utf8_lossy(&data));
            Ok(())
        },
    )?;
    Ok(())
}

/// A compiled and pre-linked module, shareable between hosts: compiling and linking once, then
/// instantiating per request, is what a policy-server does (`PolicyEvaluatorPre`).
pub struct Compiled {
    engine: Engine,
    pre: InstancePre<State>,
}

impl Compiled {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let engine = Engine::default();
        let module = Module::from_file(&engine, path).map_err(|e| {
            anyhow::anyhow!(
                "cannot load the policy module {} (build it first): {e:?}",
                path.display()
            )
        })?;
        let pre = Self::link(&engine, &module).map_err(|e| {
            anyhow::anyhow!("cannot link the policy module {}: {e:?}", path.display())
        })?;
        Ok(Compiled { engine, pre })
    }

    fn link(engine: &Engine, module: &Module) -> wasmtime::Result<InstancePre<State>> {
        let mut linker: Linker<State> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |state: &mut State| &mut state.wasi)?;
        link_wapc(&mut linker)?;
        linker.instantiate_pre(module)
    }

    /// A fresh instance: WASI (no files, no network, no environment), waPC, and `handler`.
    pub fn instantiate(&self, handler: HostCallHandler) -> anyhow::Result<PolicyHost> {
        self.instantiate_inner(handler)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    fn instantiate_inner(&self, handler: HostCallHandler) -> wasmtime::Result<PolicyHost> {
        let state = State {
            wasi: WasiCtxBuilder::new().build_p1(),
            operation: Vec::new(),
            payload: Vec::new(),
            guest_response: None,
            guest_error: None,
            host_response: Vec::new(),
            host_error: String::new(),
            handler,
            host_calls: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance: Instance = self.pre.instantiate(&mut store)?;
        // A WASI reactor initialises its runtime first; then the policy registers its functions.
        if let Ok(initialize) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            initialize.call(&mut store, ())?;
        }
        instance
            .get_typed_func::<(), ()>(&mut store, "wapc_init")
            .map_err(|e| format_err!("the module exports no wapc_init: {e}"))?
            .call(&mut store, ())?;
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .map_err(|e| format_err!("the module exports no __guest_call: {e}"))?;
        Ok(PolicyHost { store, guest_call })
    }
}

/// What a guest call ended with.
#[derive(Debug)]
pub enum GuestOutcome {
    Response(Vec<u8>),
    /// The guest answered with `__guest_error`.
    Error(String),
}

impl PolicyHost {
    /// Calls a registered waPC function. A trap is an `Err`; a guest error is `GuestOutcome::Error`.
    pub fn call(&mut self, operation: &str, payload: &[u8]) -> anyhow::Result<GuestOutcome> {
        {
            let state = self.store.data_mut();
            state.operation = operation.as_bytes().to_vec();
            state.payload = payload.to_vec();
            state.guest_response = None;
            state.guest_error = None;
        }
        let ok = self
            .guest_call
            .call(
                &mut self.store,
                (operation.len() as i32, payload.len() as i32),
            )
            .map_err(|e| anyhow::anyhow!("the guest trapped: {e:?}"))?;
        let state = self.store.data_mut();
        match (ok, state.guest_response.take(), state.guest_error.take()) {
            (1, Some(response), _) => Ok(GuestOutcome::Response(response)),
            (_, _, Some(error)) => Ok(GuestOutcome::Error(error)),
            (code, _, _) => anyhow::bail!("the guest returned {code} without a response"),
        }
    }

    /// The host calls the guest made so far (`binding/namespace/operation`).
    pub fn host_calls(&self) -> &[String] {
        &self.store.data().host_calls
    }
}

/// A handler that refuses every host call, as a host without registry access would.
pub fn no_host_calls() -> HostCallHandler {
    Box::new(|binding, namespace, operation, _| {
        Err(format!(
            "host call {binding}/{namespace}/{operation} is not available"
        ))
    })
}

/// A sigstore answer for `oci/v2/verify`.
pub fn verified(digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"is_trusted": true, "digest": digest}))
        .unwrap_or_default()
}
