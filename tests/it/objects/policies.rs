//! Bucket policies, against moto's S3 server (Garage implements none): a recorded policy is
//! restored as it was; an anonymous-download bucket without one gets public-read.

use crate::support::cli::Sandbox;
use crate::support::moto::MotoServer;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

fn client(moto: &MotoServer) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn policy_json(value: &str) -> serde_json::Value {
    serde_json::from_str(value).unwrap()
}

#[test]
fn recorded_policies_come_back_and_anonymous_download_buckets_become_public_read() {
    let moto = MotoServer::start();
    let s3 = client(&moto);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let recorded = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadAvatars","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::with-policy/avatars/*"}]}"#;
    runtime.block_on(async {
        for bucket in ["with-policy", "stgy-images"] {
            s3.create_bucket().bucket(bucket).send().await.unwrap();
            s3.put_object()
                .bucket(bucket)
                .key("avatars/a.png")
                .body(ByteStream::from_static(b"png"))
                .send()
                .await
                .unwrap();
        }
        s3.put_bucket_policy()
            .bucket("with-policy")
            .policy(recorded)
            .send()
            .await
            .unwrap();
    });

    let sandbox = Sandbox::new();
    let env = [
        ("STGY_STORAGE_S3_ENDPOINT", moto.endpoint()),
        ("STGY_STORAGE_S3_REGION", "us-east-1".to_string()),
        ("STGY_STORAGE_S3_ACCESS_KEY_ID", "testing".to_string()),
        ("STGY_STORAGE_S3_SECRET_ACCESS_KEY", "testing".to_string()),
    ];
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = sandbox.run_with(&["backup", "--no-db", "--name", "g1"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = std::fs::read_to_string(sandbox.root().join("g1/manifest.jsonl")).unwrap();
    let buckets: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "bucket")
        .collect();
    assert_eq!(
        buckets.len(),
        2,
        "every bucket the endpoint lists: {buckets:?}"
    );
    let with_policy = buckets.iter().find(|b| b["name"] == "with-policy").unwrap();
    assert_eq!(
        policy_json(with_policy["policy"].as_str().unwrap()),
        policy_json(recorded)
    );
    let images = buckets.iter().find(|b| b["name"] == "stgy-images").unwrap();
    assert!(
        images["policy"].is_null(),
        "no policy recorded as null: {images}"
    );

    // the buckets are lost, policies and all
    runtime.block_on(async {
        for bucket in ["with-policy", "stgy-images"] {
            s3.delete_object()
                .bucket(bucket)
                .key("avatars/a.png")
                .send()
                .await
                .unwrap();
            s3.delete_bucket().bucket(bucket).send().await.unwrap();
        }
    });
    let run = sandbox.run_with(&["restore", "--no-db", "g1"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    runtime.block_on(async {
        let back = s3
            .get_bucket_policy()
            .bucket("with-policy")
            .send()
            .await
            .unwrap();
        assert_eq!(policy_json(back.policy().unwrap()), policy_json(recorded));
        let public = s3
            .get_bucket_policy()
            .bucket("stgy-images")
            .send()
            .await
            .unwrap();
        let public = policy_json(public.policy().unwrap());
        assert_eq!(public["Statement"][0]["Action"][1], "s3:GetObject");
        assert_eq!(
            public["Statement"][0]["Resource"][1],
            "arn:aws:s3:::stgy-images/*"
        );
        let object = s3
            .get_object()
            .bucket("stgy-images")
            .key("avatars/a.png")
            .send()
            .await
            .unwrap();
        assert_eq!(
            object.body.collect().await.unwrap().into_bytes().as_ref(),
            b"png"
        );
    });
}
