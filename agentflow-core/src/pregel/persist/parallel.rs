//! Encoding a checkpoint's fields on more than one core, only when it is worth a thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long this thread works alone before it asks for help: a small checkpoint is encoded
/// long before that and never pays for a thread.
const HELP_AFTER: Duration = Duration::from_micros(40);

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `job` over every item, results in item order. Items are taken one at a time from a shared
/// counter; once this thread has worked for [`HELP_AFTER`] with at least two items left, one
/// helper thread joins in (the encoding of a wide state is a handful of large, independent
/// fields, so two workers take most of the gain). The first error wins.
pub(crate) fn map_items<T: Sync, R: Send, E: Send>(
    items: &[T],
    job: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    if items.len() < 3 || cores() < 2 {
        return items.iter().map(&job).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { break };
            let result = job(item);
            if let Ok(mut slot) = slots[index].lock() {
                *slot = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        let started = Instant::now();
        let mut helper = None;
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { break };
            let result = job(item);
            if let Ok(mut slot) = slots[index].lock() {
                *slot = Some(result);
            }
            if helper.is_none() && items.len() - index > 2 && started.elapsed() >= HELP_AFTER {
                helper = Some(scope.spawn(work));
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .expect("every item is taken by exactly one worker, which fills its slot")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_errors_surface() {
        let items: Vec<u64> = (0..64).collect();
        let slow = |&n: &u64| -> Result<u64, String> {
            std::thread::sleep(Duration::from_micros(20));
            Ok(n * n)
        };
        let out = map_items(&items, slow).unwrap();
        assert_eq!(out, items.iter().map(|n| n * n).collect::<Vec<_>>());
        let failing = |&n: &u64| if n == 40 { Err(format!("bad {n}")) } else { Ok(n) };
        assert_eq!(map_items(&items, failing), Err("bad 40".to_owned()));
        assert_eq!(map_items(&[1u8], |&n| Ok::<_, ()>(n)), Ok(vec![1]));
    }
}
