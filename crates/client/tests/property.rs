//! Random operation sequences give the same results through the proxy as applied directly to
//! the simulator: the network, the sessions and the encoding add nothing and lose nothing.

use smbus_proxy_client::{Bytes, Command, Msg, Op, Target, blocking};
use smbus_proxy_server::Server;
use smbus_proxy_testkit::Loopback;

/// xorshift64*: small, deterministic, and enough to wander over the operation space.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, len: usize) -> Bytes {
        (0..len).map(|_| self.byte()).collect::<Vec<u8>>().into()
    }
}

fn random_op(rng: &mut Rng) -> Op {
    // Mostly real devices, sometimes nobody.
    let addr = [0x10, 0x20, 0x48, 0x50, 0x33][rng.below(5) as usize];
    let reg = rng.byte();
    let block = |rng: &mut Rng| {
        let len = 1 + rng.below(32) as usize;
        rng.bytes(len)
    };
    let command = match rng.below(14) {
        0 => Command::WriteQuick { bit: rng.below(2) as u8 },
        1 => Command::ReadByte,
        2 => Command::WriteByte { value: rng.byte() },
        3 => Command::ReadByteData { reg },
        4 => Command::WriteByteData { reg, value: rng.byte() },
        5 => Command::ReadWordData { reg },
        6 => Command::WriteWordData { reg, value: rng.next() as u16 },
        7 => Command::ProcessCall { reg, value: rng.next() as u16 },
        8 => Command::ReadBlockData { reg },
        9 => Command::WriteBlockData { reg, data: block(rng) },
        10 => Command::BlockProcessCall { reg, data: block(rng) },
        11 => Command::ReadI2cBlockData { reg, len: 1 + rng.below(32) as u8 },
        12 => Command::WriteI2cBlockData { reg, data: block(rng) },
        _ => {
            let msgs = (0..1 + rng.below(4))
                .map(|_| {
                    if rng.below(2) == 0 {
                        Msg::read(addr, rng.below(64) as u16)
                    } else {
                        let len = rng.below(40) as usize;
                        Msg::write(addr, rng.bytes(len))
                    }
                })
                .collect();
            return Op::Transfer(msgs);
        }
    };
    Op::Smbus { target: Target::new(addr), command }
}

#[test]
fn random_sequences_match_the_simulator_applied_directly() {
    let config = smbus_proxy_testkit::config(smbus_proxy_testkit::LAB);
    let server = Server::simulated(&config).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut direct = config.build().remove(0);
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut compared = 0;
    for _ in 0..200 {
        let ops: Vec<Op> = (0..1 + rng.below(40)).map(|_| random_op(&mut rng)).collect();
        let through_proxy = bus.execute_each(&ops).unwrap();
        for (op, got) in ops.iter().zip(through_proxy) {
            assert_eq!(got, direct.execute(op).map_err(|failure| failure.errno), "{op}");
            compared += 1;
        }
    }
    assert!(compared > 3000, "{compared} operations compared");
}
