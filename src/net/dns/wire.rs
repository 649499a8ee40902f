//! The DNS wire format without I/O (RFC 1035): host-name checks, A/AAAA queries, and
//! answers decoded with every length checked and compression-pointer loops refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::DnsError;

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const CLASS_IN: u16 = 1;

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
/// A name in wire form (length bytes, labels, root byte) is never longer.
const MAX_WIRE_NAME_LEN: usize = 255;
/// A 255-byte name has at most 127 labels; more jumps than that is a hostile packet.
const MAX_POINTER_JUMPS: usize = 127;
const MAX_CNAME_HOPS: usize = 8;
/// TTLs with the top bit set count as zero (RFC 2181 §8).
const MAX_TTL: u32 = i32::MAX as u32;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const RCODE_MASK: u16 = 0x000f;
const RCODE_NXDOMAIN: u16 = 3;

/// What a server said about one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Addresses of the asked type for the name at the end of any CNAME chain, in the
    /// server's order; empty when the name exists without such records.
    pub addrs: Vec<IpAddr>,
    /// Seconds the answer may be reused: the smallest TTL along the chain.
    pub ttl: u32,
    /// The server cut the answer short (TC bit): ask again over TCP.
    pub truncated: bool,
}

/// Checks `name` as a host name (labels of 1–63 ASCII letters, digits, `-` or `_`, at
/// most 253 bytes, one trailing dot allowed) and returns it without the trailing dot.
pub fn validate_name(name: &str) -> Result<&str, DnsError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let valid = !bare.is_empty()
        && bare.len() <= MAX_NAME_LEN
        && bare
            .split('.')
            .all(|label| (1..=MAX_LABEL_LEN).contains(&label.len()) && label.bytes().all(is_name_byte));
    if valid { Ok(bare) } else { Err(DnsError::InvalidName(name.to_string())) }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A recursive query (RD set) for `name` and `qtype`, class IN.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let name = validate_name(name)?;
    let mut packet = Vec::with_capacity(12 + name.len() + 6);
    for field in [id, FLAG_RD, 1, 0, 0, 0] {
        packet.extend(field.to_be_bytes());
    }
    packet.extend(wire_name(name));
    packet.extend(qtype.to_be_bytes());
    packet.extend(CLASS_IN.to_be_bytes());
    Ok(packet)
}

/// Decodes the reply to the query `id` for `name` and `qtype`: NXDOMAIN is
/// [`DnsError::NotFound`], anything unexpected or out of bounds [`DnsError::Malformed`].
pub fn decode_response(packet: &[u8], id: u16, name: &str, qtype: u16) -> Result<Answer, DnsError> {
    let qname = wire_name(validate_name(name)?);
    let mut reader = Reader { packet, pos: 0 };
    let header = read_reply_header(&mut reader, id, &qname, qtype)?;
    match header.flags & RCODE_MASK {
        0 => {}
        RCODE_NXDOMAIN => return Err(DnsError::NotFound(name.to_string())),
        rcode => return Err(malformed(format!("the server answered {}", rcode_name(rcode)))),
    }
    if header.flags & FLAG_TC != 0 {
        return Ok(Answer { addrs: Vec::new(), ttl: 0, truncated: true });
    }
    let records: Vec<Record> =
        (0..header.answers).map(|_| read_record(&mut reader)).collect::<Result<_, _>>()?;
    follow_chain(&records, qname, qtype)
}

/// Whether `packet` is a reply to the query `id` for `name` and `qtype` at all; anything
/// else arriving on the socket is ignored, not taken as the server's answer.
pub fn answers_query(packet: &[u8], id: u16, name: &str, qtype: u16) -> bool {
    let Ok(name) = validate_name(name) else { return false };
    read_reply_header(&mut Reader { packet, pos: 0 }, id, &wire_name(name), qtype).is_ok()
}

/// `name` (already validated) as lowercase length-prefixed labels ending in the root.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    out
}

struct Header {
    flags: u16,
    answers: u16,
}

fn read_reply_header(reader: &mut Reader, id: u16, qname: &[u8], qtype: u16) -> Result<Header, DnsError> {
    if reader.u16()? != id {
        return Err(malformed("the id does not match the query"));
    }
    let flags = reader.u16()?;
    if flags & FLAG_QR == 0 {
        return Err(malformed("not a response"));
    }
    let questions = reader.u16()?;
    let answers = reader.u16()?;
    reader.bytes(4)?; // authority and additional counts: those sections are not read
    if questions != 1 {
        return Err(malformed("the answer does not repeat the question"));
    }
    let (asked, asked_type, asked_class) = (reader.name()?, reader.u16()?, reader.u16()?);
    if asked != qname || asked_type != qtype || asked_class != CLASS_IN {
        return Err(malformed("the answer is for another question"));
    }
    Ok(Header { flags, answers })
}

struct Record {
    owner: Vec<u8>,
    rtype: u16,
    ttl: u32,
    data: Data,
}

enum Data {
    Address(IpAddr),
    Alias(Vec<u8>),
    Other,
}

fn read_record(reader: &mut Reader) -> Result<Record, DnsError> {
    let owner = reader.name()?;
    let (rtype, class, ttl, len) = (reader.u16()?, reader.u16()?, reader.u32()?, reader.u16()?);
    let start = reader.pos;
    let rdata = reader.bytes(usize::from(len))?;
    let data = match (class, rtype) {
        (CLASS_IN, TYPE_A) => Data::Address(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(rdata).map_err(|_| malformed("an A record is not 4 bytes"))?,
        ))),
        (CLASS_IN, TYPE_AAAA) => Data::Address(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(rdata).map_err(|_| malformed("an AAAA record is not 16 bytes"))?,
        ))),
        (CLASS_IN, TYPE_CNAME) => {
            let (target, end) = read_name(reader.packet, start)?;
            if end > reader.pos {
                return Err(malformed("a CNAME runs past its record"));
            }
            Data::Alias(target)
        }
        _ => Data::Other,
    };
    Ok(Record { owner, rtype, ttl: if ttl > MAX_TTL { 0 } else { ttl }, data })
}

/// The `qtype` addresses of `qname`, or of the name its CNAME chain ends at.
fn follow_chain(records: &[Record], qname: Vec<u8>, qtype: u16) -> Result<Answer, DnsError> {
    let mut name = qname;
    let mut ttl = u32::MAX;
    for _ in 0..=MAX_CNAME_HOPS {
        let mut addrs = Vec::new();
        for record in records.iter().filter(|r| r.owner == name && r.rtype == qtype) {
            if let Data::Address(ip) = record.data {
                addrs.push(ip);
                ttl = ttl.min(record.ttl);
            }
        }
        if !addrs.is_empty() {
            return Ok(Answer { addrs, ttl, truncated: false });
        }
        let alias = records.iter().find_map(|r| match &r.data {
            Data::Alias(target) if r.owner == name => Some((target, r.ttl)),
            _ => None,
        });
        let Some((target, alias_ttl)) = alias else {
            return Ok(Answer { addrs, ttl: 0, truncated: false });
        };
        ttl = ttl.min(alias_ttl);
        name = target.clone();
    }
    Err(malformed(format!("a CNAME chain longer than {MAX_CNAME_HOPS}")))
}

/// The name at `start`, decompressed into lowercase wire form, and the offset just past
/// where it sits in the packet.
///
/// Each pointer must land before every byte this name has read so far, so every jump
/// moves strictly backwards and no loop can survive; real compressors only ever point
/// at names written earlier, which this always allows.
fn read_name(packet: &[u8], start: usize) -> Result<(Vec<u8>, usize), DnsError> {
    let mut name = Vec::new();
    let mut pos = start;
    let mut lowest = start;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *packet.get(pos).ok_or_else(ends_early)?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                name.push(0);
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = packet.get(pos + 1..pos + 1 + usize::from(len)).ok_or_else(ends_early)?;
                if name.len() + 1 + label.len() + 1 > MAX_WIRE_NAME_LEN {
                    return Err(malformed("a name longer than 255 bytes"));
                }
                name.push(len);
                name.extend(label.iter().map(u8::to_ascii_lowercase));
                pos += 1 + label.len();
            }
            0xC0 => {
                let low = *packet.get(pos + 1).ok_or_else(ends_early)?;
                let target = usize::from(len & 0x3F) << 8 | usize::from(low);
                jumps += 1;
                if target >= lowest || jumps > MAX_POINTER_JUMPS {
                    return Err(malformed("a compression pointer loops or points forward"));
                }
                end.get_or_insert(pos + 2);
                lowest = target;
                pos = target;
            }
            _ => return Err(malformed("an unknown label type")),
        }
    }
}

/// A bounds-checked cursor over a packet.
struct Reader<'a> {
    packet: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let slice = self.packet.get(self.pos..self.pos.saturating_add(n)).ok_or_else(ends_early)?;
        self.pos += n;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<Vec<u8>, DnsError> {
        let (name, end) = read_name(self.packet, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

fn rcode_name(rcode: u16) -> String {
    match rcode {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("rcode {n}"),
    }
}

fn malformed(why: impl Into<String>) -> DnsError {
    DnsError::Malformed(why.into())
}

fn ends_early() -> DnsError {
    malformed("the packet ends early")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: u16 = 0xBEEF;
    /// Where the question name starts: right after the header.
    const QNAME_AT: u8 = 12;

    /// A reply to `ID` for `name`/`qtype` with `flags` and raw answer `records`.
    fn reply(flags: u16, name: &str, qtype: u16, records: &[Vec<u8>]) -> Vec<u8> {
        let mut p = Vec::new();
        for field in [ID, flags, 1, records.len() as u16, 0, 0] {
            p.extend(field.to_be_bytes());
        }
        p.extend(wire_name(name));
        p.extend(qtype.to_be_bytes());
        p.extend(CLASS_IN.to_be_bytes());
        for r in records {
            p.extend(r);
        }
        p
    }

    fn ok_reply(name: &str, qtype: u16, records: &[Vec<u8>]) -> Vec<u8> {
        reply(FLAG_QR | FLAG_RD | 0x0080, name, qtype, records)
    }

    /// A record whose owner is given in wire form (which may be a pointer).
    fn record(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend(rtype.to_be_bytes());
        r.extend(CLASS_IN.to_be_bytes());
        r.extend(ttl.to_be_bytes());
        r.extend((rdata.len() as u16).to_be_bytes());
        r.extend(rdata);
        r
    }

    fn to_question() -> [u8; 2] {
        [0xC0, QNAME_AT]
    }

    #[test]
    fn a_query_is_laid_out_as_rfc_1035_says() {
        let q = encode_query(0x1234, "Ab.example.", TYPE_A).unwrap();
        let want = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, //
            2, b'a', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, //
            0, 1, 0, 1,
        ];
        assert_eq!(q, want);
        assert_eq!(&encode_query(1, "x", TYPE_AAAA).unwrap()[15..], [0, 28, 0, 1]);
    }

    #[test]
    fn names_are_checked_before_any_query() {
        let long_label = "a".repeat(63);
        let long_name = [&*"b".repeat(61), &*"c".repeat(63), &*"d".repeat(63), &*"e".repeat(63)].join(".");
        assert_eq!(long_name.len(), 253);
        for good in [
            "example.com",
            "example.com.",
            "_dmarc.x-y.example",
            "localhost",
            "1.2.3.4.in-addr",
            long_label.as_str(),
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        assert_eq!(validate_name(&long_name).unwrap(), long_name);
        assert_eq!(validate_name("example.com.").unwrap(), "example.com");
        let too_long_label = "a".repeat(64);
        let too_long_name = format!("a.{long_name}");
        for bad in [
            "",
            ".",
            "a..b",
            "a.b..",
            ".a",
            "exämple.com",
            "a b",
            "a/b",
            "a*",
            too_long_label.as_str(),
            too_long_name.as_str(),
        ] {
            assert_eq!(validate_name(bad), Err(DnsError::InvalidName(bad.to_string())), "{bad:?}");
            assert!(encode_query(1, bad, TYPE_A).is_err());
        }
    }

    #[test]
    fn an_a_answer_with_a_compressed_owner_decodes() {
        let packet = ok_reply(
            "a.example",
            TYPE_A,
            &[
                record(&to_question(), TYPE_A, 60, &[192, 0, 2, 1]),
                record(&to_question(), TYPE_A, 30, &[192, 0, 2, 2]),
            ],
        );
        let answer = decode_response(&packet, ID, "A.Example.", TYPE_A).unwrap();
        assert_eq!(answer.addrs, ["192.0.2.1".parse::<IpAddr>().unwrap(), "192.0.2.2".parse().unwrap()]);
        assert_eq!((answer.ttl, answer.truncated), (30, false));
    }

    #[test]
    fn an_aaaa_answer_decodes_and_other_types_and_classes_are_skipped() {
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut chaos = record(&to_question(), TYPE_AAAA, 5, &[0; 16]);
        chaos[4] = 3; // class CH
        let packet = ok_reply(
            "a.example",
            TYPE_AAAA,
            &[
                record(&to_question(), 16, 1, b"\x05hello"),
                chaos,
                record(&to_question(), TYPE_A, 1, &[10, 0, 0, 1]),
                record(&to_question(), TYPE_AAAA, 90, &v6.octets()),
            ],
        );
        let answer = decode_response(&packet, ID, "a.example", TYPE_AAAA).unwrap();
        assert_eq!(answer, Answer { addrs: vec![IpAddr::V6(v6)], ttl: 90, truncated: false });
    }

    #[test]
    fn cname_chains_are_followed_with_compressed_targets() {
        // www.example -> edge.cdn.test -> a.cdn.test (target compressed against the previous one)
        let mut packet = ok_reply("www.example", TYPE_A, &[]);
        let first_target_at = packet.len() + 12;
        packet.extend(record(&to_question(), TYPE_CNAME, 300, &wire_name("edge.cdn.test")));
        let second_owner = [0xC0, first_target_at as u8];
        let mut a_cdn = vec![1, b'a', 0xC0, first_target_at as u8 + 5];
        packet.extend(record(&second_owner, TYPE_CNAME, 40, &a_cdn));
        a_cdn.truncate(2);
        a_cdn.extend(wire_name("cdn.test"));
        packet.extend(record(&a_cdn, TYPE_A, 100, &[198, 51, 100, 7]));
        packet[7] = 3;
        let answer = decode_response(&packet, ID, "www.example", TYPE_A).unwrap();
        assert_eq!(answer.addrs, ["198.51.100.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(answer.ttl, 40, "the smallest TTL along the chain");
    }

    /// A reply for `c0.test` whose CNAMEs run c0 -> c1 -> … -> c{hops}, which has an A.
    fn chain(hops: usize, last_points_back: bool) -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..hops {
            let target = if last_points_back && i + 1 == hops {
                "c0.test".to_string()
            } else {
                format!("c{}.test", i + 1)
            };
            records.push(record(&wire_name(&format!("c{i}.test")), TYPE_CNAME, 60, &wire_name(&target)));
        }
        records.push(record(&wire_name(&format!("c{hops}.test")), TYPE_A, 60, &[192, 0, 2, 9]));
        ok_reply("c0.test", TYPE_A, &records)
    }

    #[test]
    fn cname_chains_stop_at_eight_and_loops_are_refused() {
        assert_eq!(decode_response(&chain(8, false), ID, "c0.test", TYPE_A).unwrap().addrs.len(), 1);
        assert!(matches!(
            decode_response(&chain(9, false), ID, "c0.test", TYPE_A),
            Err(DnsError::Malformed(_))
        ));
        assert!(matches!(
            decode_response(&chain(2, true), ID, "c0.test", TYPE_A),
            Err(DnsError::Malformed(_))
        ));
    }

    #[test]
    fn a_name_without_records_of_the_type_is_an_empty_answer() {
        let packet = ok_reply("v4only.test", TYPE_AAAA, &[]);
        let answer = decode_response(&packet, ID, "v4only.test", TYPE_AAAA).unwrap();
        assert_eq!(answer, Answer { addrs: vec![], ttl: 0, truncated: false });
    }

    #[test]
    fn rcodes_and_truncation_are_reported() {
        let nx = reply(FLAG_QR | 0x0080 | RCODE_NXDOMAIN, "gone.test", TYPE_A, &[]);
        assert_eq!(
            decode_response(&nx, ID, "gone.test", TYPE_A),
            Err(DnsError::NotFound("gone.test".into()))
        );
        let servfail = reply(FLAG_QR | 2, "x.test", TYPE_A, &[]);
        assert_eq!(
            decode_response(&servfail, ID, "x.test", TYPE_A),
            Err(DnsError::Malformed("the server answered SERVFAIL".into()))
        );
        // A truncated answer's records may be cut anywhere: they are not read.
        let mut tc = reply(FLAG_QR | FLAG_TC, "big.test", TYPE_A, &[]);
        tc[7] = 40;
        tc.extend([0xC0]);
        let answer = decode_response(&tc, ID, "big.test", TYPE_A).unwrap();
        assert!(answer.truncated && answer.addrs.is_empty());
    }

    #[test]
    fn replies_to_other_queries_are_refused() {
        let packet = ok_reply("a.test", TYPE_A, &[record(&to_question(), TYPE_A, 60, &[192, 0, 2, 1])]);
        assert!(answers_query(&packet, ID, "a.test", TYPE_A));
        assert!(answers_query(&packet, ID, "A.TEST.", TYPE_A), "names compare without case");
        for (id, name, qtype) in
            [(ID ^ 1, "a.test", TYPE_A), (ID, "b.test", TYPE_A), (ID, "a.test", TYPE_AAAA)]
        {
            assert!(!answers_query(&packet, id, name, qtype));
            assert!(matches!(decode_response(&packet, id, name, qtype), Err(DnsError::Malformed(_))));
        }
        let mut query = packet.clone();
        query[2] &= 0x7F; // QR cleared: our own query echoed back
        assert!(!answers_query(&query, ID, "a.test", TYPE_A));
    }

    #[test]
    fn hostile_compression_pointers_are_errors() {
        let a = [192, 0, 2, 1];
        let mut self_loop = ok_reply("a.test", TYPE_A, &[]);
        let at = self_loop.len() as u8;
        self_loop.extend(record(&[0xC0, at], TYPE_A, 60, &a));
        let mut forward = ok_reply("a.test", TYPE_A, &[]);
        let at = forward.len() as u8;
        forward.extend(record(&[0xC0, at + 2, 0], TYPE_A, 60, &a));
        let mut ping_pong = ok_reply("a.test", TYPE_A, &[]);
        let at = ping_pong.len() as u8;
        // The first label leads into a pointer back to that label.
        ping_pong.extend(record(&[1, b'x', 0xC0, at], TYPE_A, 60, &a));
        let mut huge = ok_reply("a.test", TYPE_A, &[]);
        let mut name = Vec::new();
        for _ in 0..5 {
            name.push(63);
            name.extend([b'a'; 63]);
        }
        name.push(0);
        huge.extend(record(&name, TYPE_A, 60, &a));
        for packet in [self_loop, forward, ping_pong, huge] {
            for hostile_count in [1, 0xFFFF] {
                let mut packet = packet.clone();
                packet[6..8].copy_from_slice(&u16::to_be_bytes(hostile_count));
                assert!(matches!(
                    decode_response(&packet, ID, "a.test", TYPE_A),
                    Err(DnsError::Malformed(_))
                ));
            }
        }
    }

    #[test]
    fn every_cut_of_a_good_packet_is_an_error_not_a_panic() {
        let packet = chain(3, false);
        assert!(decode_response(&packet, ID, "c0.test", TYPE_A).is_ok());
        for len in 0..packet.len() {
            assert!(decode_response(&packet[..len], ID, "c0.test", TYPE_A).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn ttls_with_the_top_bit_set_count_as_zero_and_bad_lengths_are_refused() {
        let packet =
            ok_reply("a.test", TYPE_A, &[record(&to_question(), TYPE_A, 0x8000_0000, &[192, 0, 2, 1])]);
        assert_eq!(decode_response(&packet, ID, "a.test", TYPE_A).unwrap().ttl, 0);
        let short = ok_reply("a.test", TYPE_A, &[record(&to_question(), TYPE_A, 60, &[192, 0, 2])]);
        assert!(matches!(decode_response(&short, ID, "a.test", TYPE_A), Err(DnsError::Malformed(_))));
        let long = ok_reply("a.test", TYPE_AAAA, &[record(&to_question(), TYPE_AAAA, 60, &[0; 17])]);
        assert!(matches!(decode_response(&long, ID, "a.test", TYPE_AAAA), Err(DnsError::Malformed(_))));
    }
}
