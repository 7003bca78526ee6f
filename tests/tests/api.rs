//! The black-box suite: HTTP only, the same assertions for every runtime.

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::thin::ThinReplica;
use edgesync_blackbox::{Replica, Target};
use serde_json::{Value, json};

async fn problem(r: reqwest::Response, status: u16, kind: &str) {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:edgesync:problem:{kind}"));
}

#[tokio::test]
async fn health_and_openapi() {
    let Some(t) = Target::from_env() else { return };
    let r = t.http.get(t.url("/v1/health")).header("x-request-id", "bb-1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "bb-1");
    assert_eq!(r.json::<Value>().await.unwrap()["database"], "ok");
    let spec: Value = t.http.get(t.url("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/v1/sync"].is_object());
}

#[tokio::test]
async fn auth_failures_are_401_problems() {
    let Some(t) = Target::from_env() else { return };
    problem(t.http.get(t.url("/v1/docs")).send().await.unwrap(), 401, "unauthorized").await;
    problem(t.http.get(t.url("/v1/docs")).bearer_auth("not.a.token").send().await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test]
async fn document_lifecycle_roles_and_idempotency() {
    let Some(t) = Target::from_env() else { return };
    let (_, owner) = t.user("owner");
    let (viewer_id, viewer) = t.user("viewer");
    let (_, stranger) = t.user("stranger");
    let create = |key: &str, title: &str| {
        t.http.post(t.url("/v1/docs")).bearer_auth(&owner).header("idempotency-key", key).json(&json!({"title": title})).send()
    };
    let first: Value = create("k1", "a").await.unwrap().json().await.unwrap();
    let replay: Value = create("k1", "a").await.unwrap().json().await.unwrap();
    assert_eq!(first, replay);
    problem(create("k1", "b").await.unwrap(), 422, "idempotency-key-reused").await;
    let id = first["id"].as_str().unwrap();

    let r = t.http.put(t.url(&format!("/v1/docs/{id}/members/{viewer_id}"))).bearer_auth(&owner).json(&json!({"role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.http.get(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&viewer).send().await.unwrap().status(), 200);
    problem(t.http.get(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&stranger).send().await.unwrap(), 404, "not-found").await;
    problem(t.http.delete(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&viewer).send().await.unwrap(), 403, "forbidden").await;

    let mut v = Replica::new(id, 9);
    let mut tx = v.doc.transaction();
    tx.put(ROOT, "by-viewer", 1).unwrap();
    tx.commit();
    assert_eq!(v.sync(&t, &viewer).await, 403, "a viewer's push is rejected");

    assert_eq!(t.http.delete(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&owner).send().await.unwrap().status(), 204);
    problem(t.http.get(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&owner).send().await.unwrap(), 404, "not-found").await;
}

#[tokio::test]
async fn limits_and_malformed_input() {
    let Some(t) = Target::from_env() else { return };
    let (_, token) = t.user("limits");
    let big = json!({"title": "x".repeat(70 * 1024)});
    problem(t.http.post(t.url("/v1/docs")).bearer_auth(&token).json(&big).send().await.unwrap(), 413, "payload-too-large").await;
    let r = t.http.post(t.url("/v1/docs")).bearer_auth(&token).header("content-type", "application/json").body("{oops").send().await.unwrap();
    problem(r, 400, "malformed-body").await;
    let id = t.create_doc(&token).await;
    let r = t.http.post(t.url(&format!("/v1/docs/{id}/sync"))).bearer_auth(&token).header("content-type", sync_core::MEDIA_TYPE).body(vec![7u8, 7, 7]).send().await.unwrap();
    problem(r, 400, "malformed-body").await;
}

/// A document of alice's that bob may edit: its id, alice's token, bob's.
async fn alice_and_bob(t: &Target) -> (String, String, String) {
    let (_, alice) = t.user("alice");
    let (bob_id, bob) = t.user("bob");
    let id = t.create_doc(&alice).await;
    let r = t.http.put(t.url(&format!("/v1/docs/{id}/members/{bob_id}"))).bearer_auth(&alice).json(&json!({"role": "editor"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    (id, alice, bob)
}

/// The load tool's thin clients (edge-load `thin:`) send changes they build without applying
/// what they receive: the server takes them as any client's, and an SDK client reads each
/// client's last value (the benchmarks rely on it).
#[tokio::test]
async fn thin_clients_changes_are_taken_as_any_clients() {
    let Some(t) = Target::from_env() else { return };
    let (id, alice, bob) = alice_and_bob(&t).await;
    let mut clients = [(ThinReplica::new(&id, 1), &alice), (ThinReplica::new(&id, 2), &bob)];
    for round in 0..5 {
        for (n, (client, token)) in clients.iter_mut().enumerate() {
            client.edit(&format!("n{n}"), round);
            assert_eq!(client.sync(&t, token).await.0, 200, "round {round} of client {n}");
        }
    }
    let mut reader = Replica::new(&id, 3);
    assert_eq!(reader.sync(&t, &alice).await, 200);
    for n in 0..2 {
        assert_eq!(reader.doc.get(ROOT, format!("n{n}").as_str()).unwrap().and_then(|(v, _)| v.as_i64()), Some(4));
    }
    assert_eq!(reader.doc.get_changes(&[]).len(), 10);
}

#[tokio::test]
async fn three_clients_edit_offline_and_converge_through_the_api() {
    let Some(t) = Target::from_env() else { return };
    let (id, alice, bob) = alice_and_bob(&t).await;
    let mut clients = [(Replica::new(&id, 1), &alice), (Replica::new(&id, 2), &bob), (Replica::new(&id, 3), &alice)];
    for round in 0..3 {
        for (n, (replica, _)) in clients.iter_mut().enumerate() {
            let mut tx = replica.doc.transaction();
            tx.put(ROOT, format!("c{n}-r{round}").as_str(), round as i64).unwrap();
            tx.commit();
        }
        // Reconnect in a different order each round.
        for n in [(round) % 3, (round + 2) % 3, (round + 1) % 3] {
            let (replica, token) = &mut clients[n];
            assert_eq!(replica.sync(&t, token).await, 200);
        }
    }
    for (replica, token) in clients.iter_mut() {
        assert_eq!(replica.sync(&t, token).await, 200);
    }
    let heads = clients[0].0.doc.get_heads();
    for (replica, _) in &clients {
        assert_eq!(replica.doc.get_heads(), heads);
        for n in 0..3 {
            for round in 0..3 {
                assert!(replica.doc.get(ROOT, format!("c{n}-r{round}").as_str()).unwrap().is_some());
            }
        }
    }
}

/// Every runtime honours the deployment's `EDGESYNC_CORS_ORIGINS` (scripts/targets.sh starts each
/// with one origin): a preflight from that origin is allowed and echoed, one from elsewhere gets
/// no CORS headers.
#[tokio::test]
async fn the_configured_cors_origins_are_honoured() {
    let Some(t) = Target::from_env() else { return };
    let allowed = std::env::var("EDGESYNC_TEST_CORS_ORIGIN").expect("scripts/targets.sh sets EDGESYNC_TEST_CORS_ORIGIN");
    let preflight = |origin: &str| {
        t.http
            .request(reqwest::Method::OPTIONS, t.url("/v1/sync"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let r = preflight(&allowed).await.unwrap();
    let echoed = r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(echoed.as_deref(), Some(allowed.as_str()), "preflight from the configured origin: {}", r.status());
    let r = preflight("https://elsewhere.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none(), "another origin was allowed: {:?}", r.headers());
}

#[tokio::test]
async fn each_request_is_logged_as_a_json_line_with_its_request_id() {
    let Some(t) = Target::from_env() else { return };
    // The runtime's own output (stdout and stderr), as its host would collect it.
    let log = std::env::var("EDGESYNC_SERVER_LOG").expect("EDGESYNC_SERVER_LOG is set by scripts/blackbox.sh");
    let (_, token) = t.user("logs");
    let id = format!("log-check-{:016x}", rand::random::<u64>());
    let r = t.http.get(t.url("/v1/docs")).bearer_auth(&token).header("x-request-id", &id).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut found = None;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // A host may prefix the line (`wasmtime serve`: `stderr [N] :: `), and wasmtime may glue
        // another instance's output to its end: the line's first JSON value is the event.
        let first_json = |l: &str| serde_json::Deserializer::from_str(&l[l.find('{')?..]).into_iter::<Value>().next()?.ok();
        found = text.lines().filter(|l| l.contains(&id) && l.contains("handled")).find_map(first_json);
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let line = found.unwrap_or_else(|| panic!("no JSON log line for request {id} in {log}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["status"], 200);
    assert_eq!(line["span"]["request_id"], id.as_str());
    assert_eq!(line["span"]["path"], "/v1/docs");
    assert!(line["timestamp"].is_string(), "{line}");
}
