//! The embedded Kafka-protocol broker of `loginwatch demo`: librdkafka's mock cluster, so the
//! services run exactly the rdkafka code they run against a real cluster.
//!
//! `MockCluster` is `!Send` (it holds a raw librdkafka handle), so it lives on a dedicated thread
//! that owns it until [`EmbeddedBroker`] is dropped; the rest of the process only sees
//! `bootstrap.servers`.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

/// A running mock cluster with the loginwatch topics created.
pub struct EmbeddedBroker {
    bootstrap_servers: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a one-broker mock cluster and creates `topics` with `partitions` each.
    pub fn start(topics: &[&str], partitions: i32) -> Result<EmbeddedBroker, String> {
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx
                            .send(Err(format!("cannot start librdkafka's mock cluster: {e}")));
                        return;
                    }
                };
                for t in &topics {
                    if let Err(e) = cluster.create_topic(t, partitions, 1) {
                        let _ = ready_tx.send(Err(format!(
                            "cannot create topic {t} on the mock cluster: {e}"
                        )));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Own the cluster until asked to stop (or until the handle is gone).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| format!("cannot spawn the broker thread: {e}"))?;
        let bootstrap_servers = ready_rx.recv().map_err(|_| {
            "the broker thread ended before the mock cluster was ready".to_string()
        })??;
        Ok(EmbeddedBroker {
            bootstrap_servers,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::Message;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn produces_and_consumes_across_threads() {
        let broker = EmbeddedBroker::start(&["t1"], 2).unwrap();
        let mut settings = loginwatch_shared::kafka::KafkaSettings {
            bootstrap_servers: broker.bootstrap_servers().to_string(),
            ..Default::default()
        };
        settings
            .properties
            .insert("session.timeout.ms".into(), "6000".into());
        let producer: FutureProducer = settings.producer_config().create().unwrap();
        producer
            .send(
                FutureRecord::to("t1").key("k").payload("hello"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let consumer: StreamConsumer = settings.consumer_config("g").create().unwrap();
        consumer.subscribe(&["t1"]).unwrap();
        let m = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload(), Some(&b"hello"[..]));
    }
}
