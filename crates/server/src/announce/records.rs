//! The server's DNS-SD records, and what the responder says to what it hears: pure functions
//! of a datagram, so that they are tested and fuzzed without a network.

use simple_dns::rdata::{A, AAAA, PTR, RData, SRV, TXT};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QTYPE, Question, ResourceRecord, TYPE};
use smbus_proxy_wire::discovery::SERVICE_TYPE;
use std::net::IpAddr;

/// The meta-query that lists the service types on a link (RFC 6763 §9).
const SERVICES: &str = "_services._dns-sd._udp.local";
/// Record lifetimes (RFC 6762 §10): records naming a host, and the rest.
const HOST_TTL: u32 = 120;
const OTHER_TTL: u32 = 4500;
/// The most a legacy (one-shot) querier is told a record lives (RFC 6762 §6.7).
const LEGACY_TTL: u32 = 10;

/// What a datagram from the link asks of the responder.
pub(crate) enum Heard {
    /// A query, and the response to it if the responder has anything to say: to the querier
    /// alone if it is a legacy one, else to the group.
    Query(Option<Vec<u8>>),
    /// A response that shows another host has the instance name.
    Claim,
    /// A response about anything else, or not DNS at all.
    Nothing,
}

/// What a datagram from a querier on the link whose interface has `addresses` asks, `legacy`
/// if it did not come from port 5353. Nothing of it is kept.
pub(crate) fn hear(records: &Records, datagram: &[u8], legacy: bool, addresses: &[IpAddr]) -> Heard {
    let Ok(packet) = Packet::parse(datagram) else { return Heard::Nothing };
    if packet.has_flags(PacketFlag::RESPONSE) {
        // A record of our name that is not one we would give is someone else's.
        let Ok(instance) = records.instance() else { return Heard::Nothing };
        let (srv, txt) = (records.srv(), records.txt());
        let theirs =
            |rr: &ResourceRecord<'_>| rr.name == instance && rr.rdata != srv.rdata && rr.rdata != txt.rdata;
        return match packet.answers.iter().chain(&packet.additional_records).any(theirs) {
            true => Heard::Claim,
            false => Heard::Nothing,
        };
    }
    let mut answer = Answer::new();
    for question in &packet.questions {
        records.answer(question, addresses, &mut answer);
    }
    Heard::Query(answer.packet(legacy.then_some(LEGACY_TTL), legacy.then_some(&packet)))
}

/// Every record for an interface with `addresses`: an announcement, or with `ttl` 0 a
/// goodbye.
pub(crate) fn announcement(records: &Records, addresses: &[IpAddr], ttl: Option<u32>) -> Option<Vec<u8>> {
    let mut answer = Answer::new();
    records.all(addresses, &mut answer);
    answer.packet(ttl, None)
}

/// The server's records, as named on the link.
pub(crate) struct Records {
    pub instance: String,
    pub host: String,
    pub port: u16,
    pub txt: Vec<String>,
}

impl Records {
    /// The names involved: the service type, the instance, the host. Built anew each time,
    /// since the instance may be renamed.
    fn service(&self) -> Name<'_> {
        Name::new_unchecked(SERVICE_TYPE.trim_end_matches('.'))
    }

    pub(crate) fn instance(&self) -> Result<Name<'_>, simple_dns::SimpleDnsError> {
        // The instance is one label, whatever it holds (spaces, dots).
        let service = self.service();
        let mut labels = vec![simple_dns::Label::new(self.instance.as_bytes())?];
        labels.extend(service.get_labels().iter().cloned());
        Ok(Name::new_with_labels(&labels))
    }

    fn host(&self) -> Name<'_> {
        Name::new_unchecked(&self.host)
    }

    /// The records that answer `question`, for a querier on `interface`'s link; each comes
    /// with the records a querier will want next (RFC 6763 §12).
    fn answer(&self, question: &Question<'_>, addresses: &[IpAddr], out: &mut Answer<'_>) {
        let (Ok(instance), service, host) = (self.instance(), self.service(), self.host()) else { return };
        let wants = |ty: TYPE| matches!(question.qtype, QTYPE::ANY) || question.qtype == QTYPE::TYPE(ty);
        let name = &question.qname;
        if *name == service && wants(TYPE::PTR) {
            out.answer(self.ptr());
            out.extra(self.srv());
            out.extra(self.txt());
            self.addresses(addresses, |rr| out.extra(rr));
        } else if *name == Name::new_unchecked(SERVICES) && wants(TYPE::PTR) {
            out.answer(ResourceRecord::new(
                Name::new_unchecked(SERVICES),
                CLASS::IN,
                OTHER_TTL,
                RData::PTR(PTR(service.into_owned())),
            ));
        } else if *name == instance {
            if wants(TYPE::SRV) {
                out.answer(self.srv());
                self.addresses(addresses, |rr| out.extra(rr));
            }
            if wants(TYPE::TXT) {
                out.answer(self.txt());
            }
        } else if *name == host {
            let want_a = wants(TYPE::A);
            let want_aaaa = wants(TYPE::AAAA);
            self.addresses(addresses, |rr| {
                let is_a = matches!(rr.rdata, RData::A(_));
                if (is_a && want_a) || (!is_a && want_aaaa) {
                    out.answer(rr);
                }
            });
        }
    }

    /// Every record, as an announcement (or, with TTL 0, a goodbye) gives them.
    fn all(&self, addresses: &[IpAddr], out: &mut Answer<'_>) {
        out.answer(self.ptr());
        out.answer(self.srv());
        out.answer(self.txt());
        self.addresses(addresses, |rr| out.answer(rr));
    }

    fn ptr(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        ResourceRecord::new(self.service().into_owned(), CLASS::IN, OTHER_TTL, RData::PTR(PTR(instance)))
    }

    pub(crate) fn srv(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        let srv = SRV { priority: 0, weight: 0, port: self.port, target: self.host().into_owned() };
        ResourceRecord::new(instance, CLASS::IN, HOST_TTL, RData::SRV(srv)).with_cache_flush(true)
    }

    pub(crate) fn txt(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        let mut txt = TXT::new();
        for pair in &self.txt {
            // Each is under 255 bytes (`Announcement::to_txt`); one that is not is left out.
            if let Ok(string) = pair.as_str().try_into() {
                txt.add_char_string(string);
            }
        }
        ResourceRecord::new(instance, CLASS::IN, OTHER_TTL, RData::TXT(txt.into_owned()))
            .with_cache_flush(true)
    }

    fn addresses(&self, addresses: &[IpAddr], mut each: impl FnMut(ResourceRecord<'static>)) {
        for ip in addresses {
            let rdata = match ip {
                IpAddr::V4(v4) => RData::A(A { address: u32::from(*v4) }),
                IpAddr::V6(v6) => RData::AAAA(AAAA { address: u128::from(*v6) }),
            };
            each(
                ResourceRecord::new(self.host().into_owned(), CLASS::IN, HOST_TTL, rdata)
                    .with_cache_flush(true),
            );
        }
    }
}

/// The records of one response: answers, and additional records that are not answers already.
struct Answer<'a> {
    answers: Vec<ResourceRecord<'a>>,
    extras: Vec<ResourceRecord<'a>>,
}

impl<'a> Answer<'a> {
    fn new() -> Self {
        Answer { answers: Vec::new(), extras: Vec::new() }
    }

    fn answer(&mut self, rr: ResourceRecord<'a>) {
        self.extras.retain(|e| *e != rr);
        if !self.answers.contains(&rr) {
            self.answers.push(rr);
        }
    }

    fn extra(&mut self, rr: ResourceRecord<'a>) {
        if !self.answers.contains(&rr) && !self.extras.contains(&rr) {
            self.extras.push(rr);
        }
    }

    /// The response as bytes, every TTL replaced by `ttl` if given (a goodbye's 0, a legacy
    /// querier's cap), in reply to `query`'s id and questions if it is a legacy one.
    fn packet(mut self, ttl: Option<u32>, legacy: Option<&Packet<'_>>) -> Option<Vec<u8>> {
        if self.answers.is_empty() {
            return None;
        }
        let mut packet = Packet::new_reply(legacy.map_or(0, Packet::id));
        packet.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
        for rr in self.answers.iter_mut().chain(self.extras.iter_mut()) {
            if let Some(ttl) = ttl {
                rr.ttl = rr.ttl.min(ttl);
            }
            if legacy.is_some() {
                // A legacy querier is no mDNS cache: no cache-flush bit (RFC 6762 §6.7).
                rr.cache_flush = false;
            }
        }
        if let Some(query) = legacy {
            packet.questions = query.questions.clone();
        }
        packet.answers = self.answers;
        packet.additional_records = self.extras;
        packet.build_bytes_vec_compressed().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Records {
        Records {
            instance: "lab pi".into(),
            host: "raspberrypi.local".into(),
            port: 50051,
            txt: vec!["txtvers=1".into(), "tls=0".into()],
        }
    }

    fn ask(records: &Records, name: &str, qtype: QTYPE) -> Answer<'static> {
        let mut answer = Answer::new();
        let question = Question::new(Name::new_unchecked(name).into_owned(), qtype, CLASS::IN.into(), false);
        let addresses = [IpAddr::from([10, 77, 0, 1])];
        records.answer(&question, &addresses, &mut answer);
        Answer {
            answers: answer.answers.into_iter().map(ResourceRecord::into_owned).collect(),
            extras: answer.extras.into_iter().map(ResourceRecord::into_owned).collect(),
        }
    }

    #[test]
    fn a_browse_gets_the_pointer_and_everything_it_leads_to() {
        let records = records();
        let browse = ask(&records, "_smbus-proxy._tcp.local", QTYPE::TYPE(TYPE::PTR));
        assert_eq!(browse.answers.len(), 1);
        let RData::PTR(PTR(target)) = &browse.answers[0].rdata else { panic!() };
        assert_eq!(target.get_labels()[0].to_string(), "lab pi", "one label, space and all");
        let kinds: Vec<TYPE> = browse.extras.iter().map(|rr| rr.rdata.type_code()).collect();
        assert_eq!(kinds, [TYPE::SRV, TYPE::TXT, TYPE::A]);
        let bytes = browse.packet(None, None).unwrap();
        let parsed = Packet::parse(&bytes).unwrap();
        assert!(parsed.has_flags(PacketFlag::RESPONSE | PacketFlag::AUTHORITATIVE_ANSWER));
        assert!(ask(&records, "_other._tcp.local", QTYPE::ANY).answers.is_empty());
        let host = ask(&records, "RaspberryPi.local", QTYPE::TYPE(TYPE::A));
        assert_eq!(host.answers.len(), 1, "names match in any case");
    }

    #[test]
    fn a_goodbye_and_a_legacy_answer_change_the_ttls() {
        let records = records();
        let mut answer = Answer::new();
        records.all(&[IpAddr::from([10, 77, 0, 1])], &mut answer);
        let bytes = answer.packet(Some(0), None).unwrap();
        let goodbye = Packet::parse(&bytes).unwrap();
        assert_eq!(goodbye.answers.len(), 4);
        assert!(goodbye.answers.iter().all(|rr| rr.ttl == 0));
        let mut query = Packet::new_query(0x1234);
        query.questions.push(Question::new(
            Name::new_unchecked("raspberrypi.local"),
            TYPE::A.into(),
            CLASS::IN.into(),
            false,
        ));
        let legacy = ask(&records, "raspberrypi.local", QTYPE::TYPE(TYPE::A))
            .packet(Some(LEGACY_TTL), Some(&query))
            .unwrap();
        let legacy = Packet::parse(&legacy).unwrap();
        assert_eq!((legacy.id(), legacy.questions.len()), (0x1234, 1));
        assert!(legacy.answers.iter().all(|rr| rr.ttl <= LEGACY_TTL && !rr.cache_flush));
    }
}
