//! The used-login-state store against moto's DynamoDB through the real AWS SDK, with the table
//! exactly as template.yaml declares `UsedLoginStatesTable` (partition key `state_hash`, TTL
//! `expires_at`): one conditional PutItem wins per state, also among concurrent callbacks in
//! different containers; an expired item (TTL deletes lazily) does not block; an unreachable
//! store is an error, never a "first use".

use whoscalling::adapters::DynamoUsedStates;
use whoscalling::used_states::UsedStates;
use whoscalling_tests::{dynamodb_config, moto};

const TABLE: &str = "whoscalling-UsedLoginStatesTable-1A2B3C4D5E6F7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_state_is_used_once_across_containers() {
    let mut moto = moto();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb_config(&moto.url));
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    dynamodb
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("state_hash")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("state_hash")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");

    let now = 1_800_000_000;
    let store = DynamoUsedStates::new(dynamodb_config(&moto.url), TABLE);
    assert_eq!(
        store.first_use("state-a", now + 600, now).await,
        Ok(true),
        "the control: a first use"
    );
    assert_eq!(store.first_use("state-a", now + 600, now + 1).await, Ok(false));
    assert_eq!(
        store.first_use("state-b", now + 600, now + 1).await,
        Ok(true),
        "another state is its own"
    );

    // Twenty containers (each its own client) race with one state: exactly one wins.
    let racers = (0..20).map(|_| {
        let store = DynamoUsedStates::new(dynamodb_config(&moto.url), TABLE);
        tokio::spawn(async move { store.first_use("state-raced", now + 600, now).await })
    });
    let mut winners = 0;
    for racer in racers {
        if racer.await.unwrap().expect("store answers") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);

    // An item past its expiry that TTL has not deleted yet does not block (its state has expired
    // with it, so no login can present it; the key is a hash, so a new state never collides anyway).
    assert_eq!(store.first_use("state-a", now + 1200, now + 600).await, Ok(true));
    assert_eq!(store.first_use("state-a", now + 1200, now + 601).await, Ok(false));

    // Only hashes are stored: the item holds exactly the key and the expiry.
    let item = dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap();
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    assert_eq!(names, ["expires_at", "state_hash"]);

    // The store down: an error, never a first use.
    moto.stop();
    assert!(store.first_use("state-c", now + 600, now).await.is_err());
}
