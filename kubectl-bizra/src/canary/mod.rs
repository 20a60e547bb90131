//! Progressive delivery of the canary track, in layers a newcomer can find:
//!
//! - [`decide`]: every decision, pure: the next step of a release from the plan, the recorded
//!   state, the observed tracks, the latest analysis and the time; the rollback plan; whether a
//!   release is in progress. A stage rule is changed there.
//! - [`execute`]: applies a step to the cluster, recording it in the state before it acts, so an
//!   interrupted `promote` or `rollback` is finished by running it again.
//! - [`cluster`]: the reads and guarded writes; [`state`], [`plan`], [`routing`]: what is read
//!   and written; [`analysis`]: the stage's checks (pure) and their queries; [`undo`]: `kubectl
//!   rollout undo`'s rules; [`retry`]: how conflicts and a restarting apiserver are ridden out.

pub mod analysis;
pub mod cluster;
pub mod decide;
pub mod execute;
pub mod plan;
pub mod retry;
pub mod routing;
pub mod state;
pub mod undo;
