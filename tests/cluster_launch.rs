//! Cluster dimensions of a [`Launch`]: the sim executor hands them to ptxsim (which runs
//! the CTAs of a cluster together and checks the dimensions against the grid), and the
//! recording executor keeps them. (The CUDA executor launches them through cuLaunchKernelEx,
//! src/cuda/cluster.rs: not yet run on a GPU.)
#![cfg(feature = "sim")]

use sparse24::kernels;
use sparse24::launch::record::{Recording, RecordingExecutor};
use sparse24::launch::{Executor, NO_CLUSTER};
use sparse24::ops::prune::{status_reset_launch, STATUS_WORDS};
use sparse24::sim::SimExecutor;

#[test]
fn cluster_dimensions_reach_ptxsim_and_the_recording() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let sim = SimExecutor::new();
    let plain = sim.alloc_zeroed(STATUS_WORDS * 8).unwrap();
    let clustered = sim.alloc_zeroed(STATUS_WORDS * 8).unwrap();
    let l = status_reset_launch(sim.ptr(&plain)).unwrap();
    assert_eq!(l.cluster, NO_CLUSTER);
    sim.launch(&l).unwrap();
    // the same kernel on two CTAs in one cluster of 2 writes the same words
    let mut c = status_reset_launch(sim.ptr(&clustered)).unwrap();
    c.grid = [2, 1, 1];
    c.cluster = [2, 1, 1];
    sim.launch(&c).unwrap();
    assert_eq!(sim.last_stats().unwrap().ctas, 2);
    let want = sim.download_bytes(&plain).unwrap();
    assert!(want.iter().any(|&b| b != 0));
    assert_eq!(sim.download_bytes(&clustered).unwrap(), want);
    // a grid that is not a multiple of the cluster is ptxsim's typed launch error
    c.cluster = [4, 1, 1];
    let e = sim.launch(&c).unwrap_err().to_string();
    assert!(
        e.contains("cluster [4, 1, 1]") && e.contains("multiple"),
        "{e}"
    );
    // both recording modes keep the cluster
    let all = RecordingExecutor::new(Recording::KeepAll);
    all.launch(&l).unwrap();
    all.launch(&c).unwrap();
    let got: Vec<[u32; 3]> = all.take_all().iter().map(|l| l.cluster).collect();
    assert_eq!(got, [NO_CLUSTER, [4, 1, 1]]);
    let last = RecordingExecutor::new(Recording::KeepLast);
    last.launch(&l).unwrap();
    last.launch(&c).unwrap();
    assert_eq!(last.last().unwrap().cluster, [4, 1, 1]);
}
