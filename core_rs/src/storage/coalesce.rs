//! Which requests a batch's ranges become: ranges of one object that are
//! close together share a request, so a batch of neighbouring records
//! costs one round trip instead of one each.

use std::ops::Range;

/// Batch positions and their ranges (`None`: the whole object).
pub type Positions = Vec<(usize, Option<Range<u64>>)>;

/// One request: the byte range to fetch (`None`: the whole object) and the
/// batch positions it serves with their own ranges.
#[derive(Debug, PartialEq, Eq)]
pub struct Planned {
    pub range: Option<Range<u64>>,
    pub members: Positions,
}

/// Plans the requests of one object's ranges (`(position, range)`;
/// `None`: the whole object). Ranges whose gap is at most `gap` bytes merge
/// while the merged request stays within `max_request` bytes; overlapping
/// and repeated ranges always merge. Whole-object reads are requests of
/// their own.
pub fn plan(mut ranges: Positions, gap: u64, max_request: u64) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    ranges.sort_by_key(|(position, range)| (range.as_ref().map(|r| (r.start, r.end)), *position));
    for (position, range) in ranges {
        let Some(range) = range else {
            out.push(Planned { range: None, members: vec![(position, None)] });
            continue;
        };
        if let Some(Planned { range: Some(current), members }) = out.last_mut() {
            let overlaps = range.start < current.end;
            let close = range.start <= current.end.saturating_add(gap)
                && range.end.max(current.end) - current.start <= max_request;
            if overlaps || close {
                current.end = current.end.max(range.end);
                members.push((position, Some(range)));
                continue;
            }
        }
        out.push(Planned { range: Some(range.clone()), members: vec![(position, Some(range))] });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{plan, Planned};

    #[test]
    fn close_ranges_share_a_request_and_far_ones_do_not() {
        let got = plan(vec![(0, Some(100..200)), (1, Some(0..50)), (2, Some(10_000..10_100))], 64, 1 << 20);
        assert_eq!(
            got,
            vec![
                Planned { range: Some(0..200), members: vec![(1, Some(0..50)), (0, Some(100..200))] },
                Planned { range: Some(10_000..10_100), members: vec![(2, Some(10_000..10_100))] },
            ]
        );
    }

    #[test]
    fn repeated_ranges_merge_and_requests_stay_within_the_cap() {
        let got = plan(vec![(0, Some(0..10)), (1, Some(0..10)), (2, Some(10..30))], 0, 20);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].members.len(), 2);
        assert_eq!(got[1].range, Some(10..30));
        let whole = plan(vec![(0, None), (1, None)], 1 << 20, 1 << 30);
        assert_eq!(whole.len(), 2);
    }
}
