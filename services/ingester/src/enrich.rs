//! LoginHistory has neither user names nor coordinates: look them up (`User` by Id, `LoginGeo` by
//! LoginGeoId) in batches and cache them. Enrichment is best effort: a failed lookup is counted
//! and logged, and the events are delivered without it rather than held back.

use std::collections::{HashMap, HashSet};

use loginwatch_shared::metrics::metrics;
use loginwatch_shared::LoginEvent;
use serde::Deserialize;

use crate::salesforce::SalesforceClient;

/// Ids per `WHERE Id IN (…)` query (keeps the URL short).
const IDS_PER_QUERY: usize = 100;
/// Entries per cache before it is cleared (bounded memory; misses only cost a query).
const CACHE_CAP: usize = 200_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Default)]
pub struct Enricher {
    pub usernames: bool,
    pub geo: bool,
    users: HashMap<String, Option<String>>,
    geos: HashMap<String, Geo>,
}

/// Only the two fields enrichment needs from each raw LoginHistory record.
#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    records: Vec<RawIds>,
}
#[derive(Deserialize)]
struct RawIds {
    #[serde(rename = "Id", default)]
    id: Option<String>,
    #[serde(rename = "LoginGeoId", default)]
    login_geo_id: Option<String>,
}

#[derive(Deserialize)]
struct QueryResult {
    #[serde(default)]
    records: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Salesforce ids are 15 or 18 alphanumeric characters; anything else never reaches a SOQL literal.
fn is_sf_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Enricher {
    pub fn new(usernames: bool, geo: bool) -> Enricher {
        Enricher {
            usernames,
            geo,
            ..Default::default()
        }
    }

    /// `LoginHistory.Id → LoginGeoId` for the records of a page body.
    pub fn geo_ids(&self, body: &[u8]) -> HashMap<String, String> {
        if !self.geo {
            return HashMap::new();
        }
        serde_json::from_slice::<RawPage>(body)
            .map(|p| {
                p.records
                    .into_iter()
                    .filter_map(|r| Some((r.id?, r.login_geo_id?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn enrich(
        &mut self,
        client: &SalesforceClient,
        events: &mut [LoginEvent],
        geo_ids: &HashMap<String, String>,
    ) {
        if self.usernames {
            let missing: HashSet<String> = events
                .iter()
                .filter(|e| e.username.is_none())
                .filter_map(|e| e.user_id.clone())
                .filter(|id| is_sf_id(id) && !self.users.contains_key(id))
                .collect();
            if let Err(e) = self.fetch_users(client, missing).await {
                tracing::warn!(org = %client.org_id, error = %e, "user name lookup failed; delivering without user names");
            }
            for ev in events.iter_mut() {
                if ev.username.is_none() {
                    if let Some(Some(name)) = ev.user_id.as_ref().and_then(|id| self.users.get(id))
                    {
                        ev.username = Some(name.clone());
                    }
                }
            }
        }
        if self.geo && !geo_ids.is_empty() {
            let missing: HashSet<String> = geo_ids
                .values()
                .filter(|id| is_sf_id(id) && !self.geos.contains_key(*id))
                .cloned()
                .collect();
            if let Err(e) = self.fetch_geos(client, missing).await {
                tracing::warn!(org = %client.org_id, error = %e, "LoginGeo lookup failed; delivering without coordinates");
            }
            for ev in events.iter_mut() {
                let key = ev.login_history_id.as_deref().unwrap_or(&ev.event_id);
                if let Some(geo) = geo_ids.get(key).and_then(|g| self.geos.get(g)) {
                    if ev.city.is_none() {
                        ev.city = geo.city.clone();
                    }
                    if ev.latitude.is_none() {
                        ev.latitude = geo.latitude;
                    }
                    if ev.longitude.is_none() {
                        ev.longitude = geo.longitude;
                    }
                }
            }
        }
    }

    async fn lookup(
        client: &SalesforceClient,
        select: &str,
        ids: &[String],
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, crate::salesforce::SfError> {
        let list = ids
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",");
        let body = client
            .query(&format!("{select} WHERE Id IN ({list})"), None)
            .await?;
        Ok(serde_json::from_slice::<QueryResult>(&body)
            .map(|r| r.records)
            .unwrap_or_default())
    }

    async fn fetch_users(
        &mut self,
        client: &SalesforceClient,
        missing: HashSet<String>,
    ) -> Result<(), crate::salesforce::SfError> {
        if self.users.len() + missing.len() > CACHE_CAP {
            self.users.clear();
        }
        let missing: Vec<String> = missing.into_iter().collect();
        for chunk in missing.chunks(IDS_PER_QUERY) {
            let rows = Self::lookup(client, "SELECT Id, Username FROM User", chunk)
                .await
                .inspect_err(|_| {
                    metrics()
                        .ingest_errors
                        .with_label_values(&[&client.org_id, "login_history", "enrich"])
                        .inc();
                })?;
            let mut found: HashMap<String, String> = HashMap::new();
            for r in rows {
                if let (Some(id), Some(name)) = (
                    r.get("Id").and_then(|v| v.as_str()),
                    r.get("Username").and_then(|v| v.as_str()),
                ) {
                    found.insert(id.to_string(), name.to_string());
                }
            }
            for id in chunk {
                // Not found (deleted user, no access) is cached too, so it is asked once.
                self.users.insert(id.clone(), found.get(id).cloned());
            }
        }
        Ok(())
    }

    async fn fetch_geos(
        &mut self,
        client: &SalesforceClient,
        missing: HashSet<String>,
    ) -> Result<(), crate::salesforce::SfError> {
        if self.geos.len() + missing.len() > CACHE_CAP {
            self.geos.clear();
        }
        let missing: Vec<String> = missing.into_iter().collect();
        for chunk in missing.chunks(IDS_PER_QUERY) {
            let rows = Self::lookup(
                client,
                "SELECT Id, City, Latitude, Longitude FROM LoginGeo",
                chunk,
            )
            .await
            .inspect_err(|_| {
                metrics()
                    .ingest_errors
                    .with_label_values(&[&client.org_id, "login_history", "enrich"])
                    .inc();
            })?;
            for r in rows {
                if let Some(id) = r.get("Id").and_then(|v| v.as_str()) {
                    let geo = Geo {
                        city: r
                            .get("City")
                            .and_then(|v| v.as_str())
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                        latitude: r.get("Latitude").and_then(|v| v.as_f64()),
                        longitude: r.get("Longitude").and_then(|v| v.as_f64()),
                    };
                    self.geos.insert(id.to_string(), geo);
                }
            }
            for id in chunk {
                self.geos.entry(id.clone()).or_default();
            }
        }
        Ok(())
    }
}
