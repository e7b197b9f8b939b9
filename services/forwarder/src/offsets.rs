//! Which Kafka offsets may be stored: per partition, the lowest offset some sink still holds.
//! Offsets are stored only up to (not including) the first detection not yet confirmed or
//! dead-lettered by every sink, so the committed offset is the minimum over the sinks.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

#[derive(Debug, Default)]
struct PartitionState {
    /// offset → sinks still holding it.
    pending: BTreeMap<i64, usize>,
    /// Highest offset seen on this partition.
    highest_seen: Option<i64>,
    /// Last "next offset to consume" handed out for storing.
    stored: Option<i64>,
}

impl PartitionState {
    fn commit_point(&self) -> Option<i64> {
        match self.pending.keys().next() {
            Some(lowest) => Some(*lowest),
            None => self.highest_seen.map(|h| h + 1),
        }
    }
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionState>,
}

impl OffsetTracker {
    /// A message at `offset` is handed to `sinks` sinks (0: nothing to wait for, e.g. a duplicate).
    /// Returns a new offset to store if it moved.
    pub fn received(&mut self, partition: i32, offset: i64, sinks: usize) -> Option<i64> {
        let state = self.partitions.entry(partition).or_default();
        state.highest_seen = Some(state.highest_seen.map_or(offset, |h| h.max(offset)));
        if sinks > 0 {
            *state.pending.entry(offset).or_insert(0) += sinks;
        }
        Self::advance(state)
    }

    /// One sink is done with the message at `offset`. Returns a new offset to store if it moved.
    pub fn done(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let state = self.partitions.get_mut(&partition)?;
        if let Some(left) = state.pending.get_mut(&offset) {
            *left -= 1;
            if *left == 0 {
                state.pending.remove(&offset);
            }
        }
        Self::advance(state)
    }

    fn advance(state: &mut PartitionState) -> Option<i64> {
        let point = state.commit_point()?;
        if state.stored.is_some_and(|s| s >= point) {
            return None;
        }
        state.stored = Some(point);
        Some(point)
    }

    /// A rebalance took the partition away. Its pending offsets are kept: if it comes back, the
    /// redelivered messages are dropped as duplicates while the first copies are still with the
    /// sinks, and those pending entries are what keeps the offset from moving past them.
    /// The next commit point is stored afresh.
    pub fn revoked(&mut self, partition: i32) {
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.stored = None;
        }
    }

    /// Messages some sink still holds.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.pending.len()).sum()
    }
}

/// The last `capacity` detection ids, to drop a redelivered message within that window.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> RecentIds {
        RecentIds {
            capacity: capacity.max(1),
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True when `id` is new (and remembers it); false for a duplicate within the window.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_the_minimum_over_sinks() {
        let mut t = OffsetTracker::default();
        assert_eq!(t.received(0, 10, 2), Some(10));
        assert_eq!(t.received(0, 11, 2), None);
        // Fast sink confirms both; slow sink none: nothing moves.
        assert_eq!(t.done(0, 10), None);
        assert_eq!(t.done(0, 11), None);
        // Slow sink confirms 11 first: 10 still held.
        assert_eq!(t.done(0, 11), None);
        assert_eq!(t.done(0, 10), Some(12));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn duplicates_do_not_move_past_pending_work() {
        let mut t = OffsetTracker::default();
        t.received(3, 5, 1);
        assert_eq!(t.received(3, 6, 0), None, "offset 5 is still pending");
        assert_eq!(t.done(3, 5), Some(7));
    }

    #[test]
    fn a_revoked_and_returned_partition_does_not_skip_in_flight_work() {
        let mut t = OffsetTracker::default();
        t.received(1, 10, 1);
        t.received(1, 11, 1);
        t.revoked(1);
        // Reassigned: 10 and 11 come again and are dropped as duplicates while still in flight.
        assert_eq!(
            t.received(1, 10, 0),
            Some(10),
            "stored afresh, but not past pending 10"
        );
        assert_eq!(t.received(1, 11, 0), None);
        assert_eq!(t.done(1, 10), Some(11));
        assert_eq!(t.done(1, 11), Some(12));
    }

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut r = RecentIds::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"));
        assert!(r.insert("a"), "a fell out of the window");
        assert_eq!(r.len(), 2);
    }
}
