//! `/dev/cuse`: requests as the kernel hands them to `smbus-proxy attach`, a program's
//! ioctls, reads and writes among them, answered by i2c-dev's behaviour on a simulated bus.
//! Each input is a sequence of requests, each prefixed by its length (one byte, times 8).
#![no_main]

use smbus_proxy_i2cdev::{cuse, device};
use smbus_proxy_sim::{Config, SimBus};
use smbus_proxy_wire::{Op, Reply};
use std::time::Duration;

struct Sim(SimBus);

impl device::Remote for Sim {
    fn funcs(&self) -> u64 {
        self.0.funcs()
    }
    fn run(&mut self, op: Op) -> Result<Reply, i32> {
        self.0.execute(&op).map_err(|failure| failure.errno.0)
    }
    fn claimed(&mut self, addr: u16, ten_bit: bool) -> Result<bool, i32> {
        Ok(self.0.busy().contains(&(addr, ten_bit)))
    }
    fn configure(&mut self, _: Option<Duration>, _: Option<u32>) -> Result<(), i32> {
        Ok(())
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let bus = Config::demo().build().into_iter().next().expect("the demo has a bus");
    let mut device = device::Device::new(Sim(bus));
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (usize::from(len) * 8).min(tail.len());
        let (request, tail) = tail.split_at(len);
        rest = tail;
        if let Ok(request) = cuse::Request::parse(request) {
            let _ = device.handle(&request);
        }
    }
});
