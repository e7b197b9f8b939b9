//! Secrets in the ingester's config: a plain-string secret is refused naming the key and the
//! accepted forms, never the value; syntax errors do not quote the line; Kafka SASL passwords take
//! the secret forms; nothing secret shows in `Debug`.

use loginwatch_ingester::IngesterConfig;

const VALUE: &str = "SUPERSECRET123";

fn org(auth: &str) -> String {
    format!("[[orgs]]\norg_id = \"00D000000000001AAA\"\nlogin_url = \"https://acme.my.salesforce.com\"\n{auth}\n")
}

fn assert_refused_without_value(err: &str, key: &str) {
    assert!(!err.contains(VALUE), "the secret leaked: {err}");
    assert!(err.contains(&format!("`{key}`")), "{key} not named: {err}");
    assert!(
        err.contains("{ env = \"VAR\" }") && err.contains("{ file = \"/path\" }"),
        "the accepted forms are not named: {err}"
    );
}

#[test]
fn plain_string_client_secret_is_refused_naming_the_key_not_the_value() {
    // Inline table, as in the shipped config.
    let text = org(&format!(
        "auth = {{ type = \"client_credentials\", client_id = \"ck\", client_secret = \"{VALUE}\" }}"
    ));
    let err = IngesterConfig::from_toml(&text).unwrap_err().to_string();
    assert_refused_without_value(&err, "orgs.0.auth.client_secret");

    // `[orgs.auth]` table, from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingester.toml");
    std::fs::write(
        &path,
        org(&format!(
            "[orgs.auth]\ntype = \"client_credentials\"\nclient_id = \"ck\"\nclient_secret = \"{VALUE}\""
        )),
    )
    .unwrap();
    let err = IngesterConfig::load(Some(&path)).unwrap_err().to_string();
    assert_refused_without_value(&err, "orgs.0.auth.client_secret");
}

#[test]
fn plain_string_private_key_is_refused_naming_the_key_not_the_value() {
    let text = org(&format!(
        "auth = {{ type = \"jwt_bearer\", consumer_key = \"ck\", username = \"int@example.com\", private_key = \"{VALUE}\" }}"
    ));
    let err = IngesterConfig::from_toml(&text).unwrap_err().to_string();
    assert_refused_without_value(&err, "orgs.0.auth.private_key");
}

#[test]
fn syntax_error_on_a_secret_line_names_the_line_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingester.toml");
    // The closing quote is missing.
    std::fs::write(
        &path,
        org(&format!(
            "[orgs.auth]\ntype = \"client_credentials\"\nclient_id = \"ck\"\nclient_secret = {{ value = \"{VALUE} }}"
        )),
    )
    .unwrap();
    let err = IngesterConfig::load(Some(&path)).unwrap_err().to_string();
    assert!(!err.contains(VALUE), "the secret leaked: {err}");
    assert!(err.contains("line 7"), "{err}");
    assert!(err.contains("orgs.auth.client_secret"), "{err}");
    assert!(err.contains("ingester.toml"), "{err}");
}

#[test]
fn kafka_sasl_password_takes_the_secret_forms_and_never_prints() {
    let auth = "auth = { type = \"client_credentials\", client_id = \"ck\", client_secret = { value = \"cc\" } }";
    let plain = format!(
        "[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.password\" = \"{VALUE}\"\n{}",
        org(auth)
    );
    let err = IngesterConfig::from_toml(&plain).unwrap_err().to_string();
    assert_refused_without_value(&err, "kafka.properties.sasl.password");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kafka_password");
    std::fs::write(&file, format!("{VALUE}\n")).unwrap();
    let text = format!(
        "[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.password\" = {{ file = {:?} }}\n{}",
        file.display().to_string(),
        org(auth)
    );
    let c = IngesterConfig::from_toml(&text).unwrap();
    assert_eq!(
        c.kafka.producer_config().get("sasl.password"),
        Some(VALUE),
        "resolved at start-up and passed to librdkafka"
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains(VALUE), "{debug}");
}

#[test]
fn secrets_in_value_form_do_not_show_in_debug() {
    let c = IngesterConfig::from_toml(&org(&format!(
        "auth = {{ type = \"client_credentials\", client_id = \"ck\", client_secret = {{ value = \"{VALUE}\" }} }}"
    )))
    .unwrap();
    assert!(!format!("{c:?}").contains(VALUE));
}
