//! The VirtualService's route weights between the `stable` and `canary` subsets. Every HTTP
//! route that names both subsets is split the same way; weights always sum to 100.

use serde_json::Value;

pub const STABLE_SUBSET: &str = "stable";
pub const CANARY_SUBSET: &str = "canary";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Weights {
    pub stable: u8,
    pub canary: u8,
}

impl Weights {
    pub fn canary(canary: u8) -> Self {
        let canary = canary.min(100);
        Weights {
            stable: 100 - canary,
            canary,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error(
        "no HTTP route of the VirtualService sends traffic to both subsets {STABLE_SUBSET:?} and {CANARY_SUBSET:?}; add one (see manifests/base/virtualservice.yaml)"
    )]
    NoSplitRoute,
    #[error(
        "the VirtualService's routes split traffic differently ({0}); make them agree or run `kubectl bizra rollback`"
    )]
    RoutesDisagree(String),
    #[error("route weights {stable}/{canary} do not sum to 100")]
    BadSum { stable: i64, canary: i64 },
}

fn subset(destination: &Value) -> Option<&str> {
    destination.pointer("/destination/subset")?.as_str()
}

/// The routes (`spec.http[].route`) with a stable and a canary destination.
fn split_routes(spec: &Value) -> Vec<&Vec<Value>> {
    spec.get("http")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|http| http.get("route").and_then(Value::as_array))
        .filter(|route| {
            route.iter().any(|d| subset(d) == Some(STABLE_SUBSET))
                && route.iter().any(|d| subset(d) == Some(CANARY_SUBSET))
        })
        .collect()
}

fn weight_of(route: &[Value], name: &str) -> i64 {
    route
        .iter()
        .filter(|d| subset(d) == Some(name))
        .map(|d| d.get("weight").and_then(Value::as_i64).unwrap_or(0))
        .sum()
}

/// Reads the split from a VirtualService's `spec`.
pub fn read_weights(spec: &Value) -> Result<Weights, RoutingError> {
    let routes = split_routes(spec);
    if routes.is_empty() {
        return Err(RoutingError::NoSplitRoute);
    }
    let splits: Vec<(i64, i64)> = routes
        .iter()
        .map(|r| (weight_of(r, STABLE_SUBSET), weight_of(r, CANARY_SUBSET)))
        .collect();
    let (stable, canary) = splits[0];
    if splits.iter().any(|s| *s != (stable, canary)) {
        let text: Vec<String> = splits.iter().map(|(s, c)| format!("{s}/{c}")).collect();
        return Err(RoutingError::RoutesDisagree(text.join(", ")));
    }
    if stable + canary != 100 || !(0..=100).contains(&canary) {
        return Err(RoutingError::BadSum { stable, canary });
    }
    Ok(Weights::canary(canary as u8))
}

/// Sets the split on every route with both subsets; other destinations are left alone.
pub fn set_weights(spec: &mut Value, weights: Weights) -> Result<(), RoutingError> {
    let mut found = false;
    let routes = spec
        .get_mut("http")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|http| http.get_mut("route").and_then(Value::as_array_mut));
    for route in routes {
        let has = |name| route.iter().any(|d| subset(d) == Some(name));
        if !(has(STABLE_SUBSET) && has(CANARY_SUBSET)) {
            continue;
        }
        found = true;
        for destination in route.iter_mut() {
            let weight = match subset(destination) {
                Some(STABLE_SUBSET) => weights.stable,
                Some(CANARY_SUBSET) => weights.canary,
                _ => continue,
            };
            destination["weight"] = Value::from(weight);
        }
    }
    if found {
        Ok(())
    } else {
        Err(RoutingError::NoSplitRoute)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(stable: i64, canary: i64) -> Value {
        json!({"hosts": ["bizra-apex"], "http": [{"name": "primary", "route": [
            {"destination": {"host": "bizra-apex", "subset": "stable"}, "weight": stable},
            {"destination": {"host": "bizra-apex", "subset": "canary"}, "weight": canary},
        ]}]})
    }

    #[test]
    fn reads_and_writes_the_split() {
        let mut vs = spec(100, 0);
        assert_eq!(
            read_weights(&vs),
            Ok(Weights {
                stable: 100,
                canary: 0
            })
        );
        set_weights(&mut vs, Weights::canary(25)).expect("set");
        assert_eq!(vs, spec(75, 25));
        assert_eq!(
            read_weights(&vs),
            Ok(Weights {
                stable: 75,
                canary: 25
            })
        );
    }

    #[test]
    fn every_split_route_moves_and_others_stay() {
        let mut vs = json!({"http": [
            {"match": [{"headers": {"x-canary": {"exact": "1"}}}], "route": [
                {"destination": {"host": "bizra-apex", "subset": "canary"}}]},
            spec(100, 0)["http"][0].clone(),
            spec(100, 0)["http"][0].clone(),
        ]});
        set_weights(&mut vs, Weights::canary(5)).expect("set");
        assert_eq!(vs["http"][0]["route"][0].get("weight"), None);
        assert_eq!(
            read_weights(&vs),
            Ok(Weights {
                stable: 95,
                canary: 5
            })
        );
    }

    #[test]
    fn inconsistent_routes_are_reported() {
        assert_eq!(
            read_weights(&json!({"http": []})),
            Err(RoutingError::NoSplitRoute)
        );
        let mut two = spec(90, 10);
        two["http"]
            .as_array_mut()
            .expect("http")
            .push(spec(50, 50)["http"][0].clone());
        assert!(matches!(
            read_weights(&two),
            Err(RoutingError::RoutesDisagree(_))
        ));
        assert_eq!(
            read_weights(&spec(90, 20)),
            Err(RoutingError::BadSum {
                stable: 90,
                canary: 20
            })
        );
        let mut none = json!({"http": [{"route": [{"destination": {"host": "x"}}]}]});
        assert_eq!(
            set_weights(&mut none, Weights::canary(5)),
            Err(RoutingError::NoSplitRoute)
        );
    }

    #[test]
    fn weights_always_sum_to_100() {
        for canary in [0, 1, 5, 50, 99, 100, 200] {
            let w = Weights::canary(canary);
            assert_eq!(u16::from(w.stable) + u16::from(w.canary), 100);
        }
    }
}
