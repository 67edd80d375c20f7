//! The runtime the background jobs run on: one worker thread of its own (`nkpay-jobs`, and any
//! blocking thread it starts, named the same) at a lower CPU priority than the requests'
//! threads: `jobs.nice` steps of niceness below the process's own.
//!
//! Why (issue 16): the trade job asks the channel about every trade nobody paid yet, 5 s after
//! its order and then on its back-off, so under load it does about as much work as the creates
//! (for `A_NATIVE` two more RSA private-key operations per query, the platform's request and
//! the channel's answer). On the threads the requests' writes use, its bursts after each idle
//! second put the requests behind it (open-loop p99 13 ms with the job off against 23–27 ms with
//! it on, at 600 `T_JSAPI` a second). A background job may wait; a merchant's request should
//! not. So when the CPU is short the kernel gives it to the requests first, and the job catches
//! up when they leave room; its lag is measured (`nkpay_job_lag_seconds`). The query jobs'
//! claims and reschedules — their writes on every row they touch — and its finalizations go
//! through the write queue on the requests' runtime (`nkpay_store::Db::write`), so for those a
//! job thread waiting for the CPU never holds SQLite's one writer connection. The rarer writes
//! of a job's work (a close, an incident) still run on the jobs' thread.
//!
//! Niceness is per thread on Linux (setpriority(2), NOTES: "the nice value is a per-thread
//! attribute"), so only this runtime's threads are lowered. Raising niceness needs no
//! privilege. On other systems the threads keep the process's priority, and nothing is
//! logged.

use tokio::runtime::{Builder, Runtime};

/// The default of `jobs.nice`: 10 steps below the process's niceness, the increment nice(1)
/// applies by default. Under CFS a runnable nice-10 thread weighs 110 against 1,024 for a nice-0 one
/// (kernel `sched_prio_to_weight`), so with both cores busy with requests the job gets about a
/// tenth of a core, and the whole of whatever the requests leave idle.
pub const DEFAULT_NICE: i32 = 10;

/// The highest niceness Linux has (lowest priority): 19.
pub const MAX_NICE: i32 = 19;

/// The jobs' runtime, shut down without waiting when dropped (dropping a tokio runtime
/// otherwise blocks, which panics inside another runtime's task). The jobs stop themselves
/// first on their shutdown signal; what is still running then is abandoned, its claims coming
/// back when their leases end.
#[derive(Debug)]
pub struct JobsRuntime {
    runtime: Option<Runtime>,
    handle: tokio::runtime::Handle,
}

impl JobsRuntime {
    /// [`build`] with its threads `steps` of niceness below the caller's.
    pub fn start(steps: i32) -> std::io::Result<JobsRuntime> {
        let runtime = build(steps)?;
        Ok(JobsRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// The runtime's handle: `handle().enter()` makes `tokio::spawn` start tasks on it.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for JobsRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Builds the jobs' runtime: a multi-threaded tokio runtime with one worker thread, named
/// `nkpay-jobs`, IO and time enabled, every thread it starts (the worker and any blocking
/// thread) `steps` of niceness below the thread that builds it (0: the same priority; the
/// result is capped at [`MAX_NICE`]). On Linux a failure to lower a thread is logged and the
/// thread keeps its priority; elsewhere nothing is done.
///
/// Errors: the runtime could not be built (no thread could be started).
pub fn build(steps: i32) -> std::io::Result<Runtime> {
    // The target is fixed here, from the builder's niceness: a blocking thread started from the
    // (already lowered) worker must not be lowered again.
    let target = match current_thread_nice() {
        Ok(own) if steps != 0 => Some(own.saturating_add(steps).min(MAX_NICE)),
        _ => None,
    };
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("nkpay-jobs")
        .enable_all()
        .on_thread_start(move || {
            if let Some(nice) = target
                && let Err(e) = set_current_thread_nice(nice)
            {
                tracing::warn!(nice, error = %e, "the jobs' thread keeps the process's CPU priority");
            }
        })
        .build()
}

/// Sets the calling thread's niceness (-20 to 19; lowering it below the current value needs
/// `CAP_SYS_NICE`). Linux only; elsewhere an `Unsupported` error.
pub fn set_current_thread_nice(nice: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread niceness is set on Linux only",
        ))
    }
}

/// The calling thread's niceness. Linux only; elsewhere an `Unsupported` error.
pub fn current_thread_nice() -> std::io::Result<i32> {
    #[cfg(target_os = "linux")]
    {
        // getpriority answers -1 both as a niceness and as a failure: errno tells them apart.
        // SAFETY: errno is this thread's; gettid and getpriority take plain integers.
        let (nice, errno) = unsafe {
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t);
            (nice, *libc::__errno_location())
        };
        if nice == -1 && errno != 0 {
            Err(std::io::Error::from_raw_os_error(errno))
        } else {
            Ok(nice)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread niceness is read on Linux only",
        ))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_jobs_threads_run_lowered_and_the_caller_keeps_its_priority() {
        let before = current_thread_nice().unwrap();
        let rt = build(7).unwrap();
        let (on_worker, name) = rt.block_on(async {
            tokio::spawn(async {
                (
                    current_thread_nice().unwrap(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
            .unwrap()
        });
        assert_eq!(on_worker, (before + 7).min(MAX_NICE));
        assert_eq!(name.as_deref(), Some("nkpay-jobs"));
        // A blocking thread started from the (lowered) worker: lowered once, not twice.
        let blocking = rt
            .block_on(async {
                tokio::spawn(async {
                    tokio::task::spawn_blocking(|| current_thread_nice().unwrap()).await
                })
                .await
            })
            .unwrap()
            .unwrap();
        assert_eq!(blocking, (before + 7).min(MAX_NICE));
        assert_eq!(current_thread_nice().unwrap(), before);
        rt.shutdown_background();
    }

    #[tokio::test]
    async fn the_runtime_may_be_dropped_inside_another_runtimes_task() {
        let jobs = JobsRuntime::start(3).unwrap();
        let on_jobs = jobs
            .handle()
            .spawn(async { current_thread_nice().unwrap() })
            .await
            .unwrap();
        assert_eq!(on_jobs, (current_thread_nice().unwrap() + 3).min(MAX_NICE));
        drop(jobs);
    }

    #[test]
    fn niceness_zero_leaves_the_threads_as_the_process() {
        let before = current_thread_nice().unwrap();
        let rt = build(0).unwrap();
        let on_worker = rt
            .block_on(async { tokio::spawn(async { current_thread_nice().unwrap() }).await })
            .unwrap();
        assert_eq!(on_worker, before);
        rt.shutdown_background();
    }
}
