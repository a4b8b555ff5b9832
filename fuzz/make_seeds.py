#!/usr/bin/env python3
"""Writes the hand-made seeds of corpus/sip_message and corpus/sip_agent.

Run from fuzz/ after editing a message below; the SDP seeds are the
crates/sdp fixtures, copied as they are. Seeds the fuzzer found stay in the
corpus folders beside these (names without the `seed-` prefix).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

OFFER = (
    "v=0\r\no=- 3919183264 3919183264 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 30104 UDP/TLS/RTP/SAVPF 111 0 101\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    "a=rtcp-mux\r\na=setup:actpass\r\na=fingerprint:sha-256 7B:1F:84:C0:3A:55:D2:6E:90:14:0B:8F:AE:2C:71:D9:46:38:"
    "E5:0A:BB:92:1D:F3:64:C7:08:5E:29:A1:D4:3C\r\na=ice-ufrag:dLx8\r\na=ice-pwd:uT4qZ0bN7mYcHs1vPf6kWj\r\n"
    "a=candidate:1 1 UDP 2130706431 127.0.0.1 30104 typ host\r\n"
)
HOLD = OFFER.replace("3919183264 IN", "3919183265 IN").replace("a=sendrecv", "a=sendonly")

KAM_VIA = "Via: SIP/2.0/WSS 127.0.0.1:8443;branch=z9hG4bK{b};rport=8443;received=127.0.0.1\r\n"
RR = "Record-Route: <sip:127.0.0.1:8443;transport=ws;r2=on;lr>\r\nRecord-Route: <sip:127.0.0.1;r2=on;lr>\r\n"
ALICE_VIA = "Via: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKalice1;rport=51000;received=127.0.0.1\r\n"


def msg(start, headers, body="", ctype="application/sdp"):
    text = start + "\r\n" + headers
    if body:
        text += f"Content-Type: {ctype}\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}"
    else:
        text += "Content-Length: 0\r\n\r\n"
    return text


def dialog(callid, ftag, ttag, cseq, method, frm="<sip:bob@example.com>", to="<sip:alice@example.com>"):
    t = f";tag={ttag}" if ttag else ""
    return f"From: {frm};tag={ftag}\r\nTo: {to}{t}\r\nCall-ID: {callid}\r\nCSeq: {cseq} {method}\r\n"


# One message each, as a server (Kamailio in front of a peer) would send it.
SIP = {
    "register": msg(
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKreg1;rport\r\nMax-Forwards: 70\r\n"
        + dialog("reg1@abc123.invalid", "r1", "", 1, "REGISTER", "<sip:alice@example.com>")
        + 'Contact: <sip:alice@abc123.invalid;transport=ws;ob>;+sip.instance="<urn:uuid:8f2c4a1e-0000-4000-8000-00000000abcd>";reg-id=1\r\n'
        "Expires: 600\r\nSupported: path, outbound\r\nAuthorization: Digest username=\"alice\", realm=\"example.com\", "
        'nonce="5f1b3a7c", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"\r\n',
    ),
    "register-401": msg(
        "SIP/2.0 401 Unauthorized",
        "Via: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKreg1;rport=51000;received=127.0.0.1\r\n"
        + dialog("reg1@abc123.invalid", "r1", "8f3b.e2a1", 1, "REGISTER", "<sip:alice@example.com>", "<sip:alice@example.com>")
        + 'WWW-Authenticate: Digest realm="example.com", nonce="ZxYwVuTsRq:1f2e3d", qop="auth,auth-int", algorithm=SHA-256, stale=FALSE\r\n'
        'WWW-Authenticate: Digest realm="example.com", nonce="ZxYwVuTsRq:1f2e3d", qop="auth", algorithm=MD5, opaque="op,aque"\r\n'
        "Server: kamailio (5.7.4 (x86_64/linux))\r\n",
    ),
    "register-200": msg(
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKreg2;rport=51000;received=127.0.0.1\r\n"
        + dialog("reg1@abc123.invalid", "r1", "8f3b.e2a1", 2, "REGISTER", "<sip:alice@example.com>", "<sip:alice@example.com>")
        + 'Contact: <sip:alice@abc123.invalid;transport=ws;ob>;expires=600;+sip.instance="<urn:uuid:8f2c4a1e-0000-4000-8000-00000000abcd>";reg-id=1, '
        "<sip:alice@old.invalid;transport=ws>;expires=12\r\nPath: <sip:127.0.0.1:8443;transport=ws;lr;ob>\r\nSupported: outbound\r\n",
    ),
    "register-423": msg(
        "SIP/2.0 423 Interval Too Brief",
        "Via: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKreg3;rport\r\n"
        + dialog("reg1@abc123.invalid", "r1", "x", 3, "REGISTER", "<sip:alice@example.com>", "<sip:alice@example.com>")
        + "Min-Expires: 3600\r\n",
    ),
    "register-503": msg(
        "SIP/2.0 503 Service Unavailable",
        "v: SIP/2.0/WSS abc123.invalid;branch=z9hG4bKreg4\r\n"
        "f: <sip:alice@example.com>;tag=r1\r\nt: <sip:alice@example.com>\r\ni: reg1@abc123.invalid\r\nCSeq: 4 REGISTER\r\n"
        "Retry-After: 30 (maintenance);duration=60\r\n",
    ),
    "invite-sdp-kamailio": msg(
        "INVITE sip:alice@abc123.invalid;transport=ws;ob SIP/2.0",
        "Record-Route: <sip:127.0.0.1:8443;transport=ws;r2=on;lr=on;ftag=b1>\r\n"
        "Record-Route: <sip:127.0.0.1;r2=on;lr=on;ftag=b1>\r\n"
        "Via:  SIP/2.0/WSS 127.0.0.1:8443;branch=z9hG4bK7c2d.1\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;rport=5070;branch=z9hG4bKbob1\r\nMax-Forwards: 69\r\n"
        + dialog("inv1@bob", "b1", "", 101, "INVITE", '"Bob \\"B\\" Smith" <sip:+4930123456@example.com;user=phone>')
        + "Contact: <sip:bob@127.0.0.1:5070>;expires=3600\r\nSupported: timer, replaces, 100rel\r\nSession-Expires: 1800;refresher=uac\r\n"
        "Min-SE: 90\r\nAllow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, INFO, OPTIONS, UPDATE\r\nUser-Agent: baresip\r\n",
        OFFER,
    ),
    "invite-replaces": msg(
        "INVITE sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="rep1") + dialog("inv2@carol", "c1", "", 1, "INVITE", "<sip:carol@example.com>")
        + "Contact: <sip:carol@127.0.0.1:5071>\r\nReplaces: inv1@bob;to-tag=a1;from-tag=b1\r\nRequire: replaces\r\n",
        OFFER,
    ),
    "invite-offerless": msg(
        "INVITE sip:alice@abc123.invalid SIP/2.0",
        KAM_VIA.format(b="nosdp") + dialog("inv3@bob", "b3", "", 1, "INVITE") + "Contact: <sip:bob@127.0.0.1:5070>\r\nRequire: 100rel, foo\r\n",
    ),
    "100-trying": msg("SIP/2.0 100 Trying", ALICE_VIA + dialog("out1@abc123.invalid", "a1", "", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")),
    "180-ringing": msg(
        "SIP/2.0 180 Ringing",
        ALICE_VIA + RR + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")
        + "Contact: <sip:bob@127.0.0.1:5070;transport=udp>\r\n",
    ),
    "183-early-media": msg(
        "SIP/2.0 183 Session Progress",
        ALICE_VIA + RR + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")
        + "Contact: <sip:bob@127.0.0.1:5070>\r\nRequire: 100rel\r\nRSeq: 1\r\n",
        OFFER,
    ),
    "200-invite": msg(
        "SIP/2.0 200 OK",
        ALICE_VIA + RR + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")
        + "Contact: <sip:bob@127.0.0.1:5070>\r\nSession-Expires: 90;refresher=uas\r\nRequire: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
        OFFER,
    ),
    "407-invite": msg(
        "SIP/2.0 407 Proxy Authentication Required",
        ALICE_VIA + dialog("out1@abc123.invalid", "a1", "k1", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")
        + 'Proxy-Authenticate: Digest realm="example.com", nonce="abc", algorithm=MD5-sess, qop="auth", stale=true\r\n',
    ),
    "487-terminated": msg("SIP/2.0 487 Request Terminated", ALICE_VIA + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")),
    "486-busy": msg("SIP/2.0 486 Busy Here", ALICE_VIA + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>")),
    "422-too-small": msg(
        "SIP/2.0 422 Session Interval Too Small",
        ALICE_VIA + dialog("out1@abc123.invalid", "a1", "b9", 1, "INVITE", "<sip:alice@example.com>", "<sip:bob@example.com>") + "Min-SE: 1800\r\n",
    ),
    "ack": msg("ACK sip:alice@abc123.invalid;transport=ws SIP/2.0", KAM_VIA.format(b="ack1") + "Route: <sip:127.0.0.1;lr>\r\n" + dialog("inv1@bob", "b1", "a7", 101, "ACK")),
    "bye": msg("BYE sip:alice@abc123.invalid;transport=ws SIP/2.0", KAM_VIA.format(b="bye1") + dialog("inv1@bob", "b1", "a7", 102, "BYE") + "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"),
    "cancel": msg("CANCEL sip:alice@abc123.invalid;transport=ws;ob SIP/2.0", "Via:  SIP/2.0/WSS 127.0.0.1:8443;branch=z9hG4bK7c2d.1\r\n" + dialog("inv1@bob", "b1", "", 101, "CANCEL")),
    "refer": msg(
        "REFER sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="ref1") + dialog("inv1@bob", "b1", "a7", 103, "REFER")
        + "Refer-To: <sip:carol@example.com?Replaces=inv9%40carol%3Bto-tag%3Dc9%3Bfrom-tag%3Dd9>\r\nReferred-By: <sip:bob@example.com>\r\n"
        "Contact: <sip:bob@127.0.0.1:5070>\r\n",
    ),
    "notify-sipfrag": msg(
        "NOTIFY sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="not1") + dialog("inv1@bob", "b1", "a7", 104, "NOTIFY")
        + "Event: refer;id=103\r\nSubscription-State: terminated;reason=noresource\r\n",
        "SIP/2.0 200 OK\r\n", "message/sipfrag;version=2.0",
    ),
    "info-dtmf-relay": msg(
        "INFO sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="inf1") + dialog("inv1@bob", "b1", "a7", 105, "INFO"),
        "Signal=#\r\nDuration=160\r\n", "application/dtmf-relay",
    ),
    "options": msg(
        "OPTIONS sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="opt1") + "Max-Forwards: 70\r\n" + dialog("ka1@kamailio", "k1", "", 1, "OPTIONS", "<sip:kamailio@127.0.0.1>")
        + "Accept: application/sdp\r\n",
    ),
    "reinvite-hold": msg(
        "INVITE sip:alice@abc123.invalid;transport=ws SIP/2.0",
        KAM_VIA.format(b="hold1") + "Route: <sip:127.0.0.1;lr>\r\n" + dialog("inv1@bob", "b1", "a7", 106, "INVITE")
        + "Contact: <sip:bob@127.0.0.1:5070>\r\n",
        HOLD,
    ),
    "update": msg("UPDATE sip:alice@abc123.invalid SIP/2.0", KAM_VIA.format(b="upd1") + dialog("inv1@bob", "b1", "a7", 107, "UPDATE") + "Session-Expires: 90;refresher=uac\r\n"),
    "message-unknown": msg("MESSAGE sip:alice@example.com SIP/2.0", KAM_VIA.format(b="msg1") + dialog("m1@bob", "b1", "", 1, "MESSAGE"), "hello", "text/plain"),
    "folded-and-compact": "SIP/2.0 180 Ringing\r\nv: SIP/2.0/WSS abc.invalid;branch=z9hG4bKx\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>;tag=2\r\n"
    "i: fold@x\r\nCSeq: 1\r\n  INVITE\r\nm: <sip:c@1.2.3.4>\r\nSubject: a\r\n\tfolded subject\r\nl: 0\r\n\r\n",
    "keepalive-glued": "\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/WSS x;branch=z9hG4bKk\r\nFrom: <sip:k@x>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: k\r\nCSeq: 1 OPTIONS\r\n\r\n",
}

# sip_agent: records, each a line `@@ op args` then an optional payload up
# to the next `\n@@ ` (see fuzz_targets/sip_agent.rs).
INVITE_IN = SIP["invite-sdp-kamailio"]
AGENT = {
    "incoming-answer-bye": [("msg", INVITE_IN), ("cmd answer", ""), ("msg", SIP["ack"].replace("a7", "$T")), ("time 1000", ""), ("msg", SIP["bye"].replace("a7", "$T"))],
    "incoming-cancel": [("msg", INVITE_IN), ("time 2000", ""), ("msg", SIP["cancel"])],
    "incoming-reject": [("msg", INVITE_IN), ("cmd reject", ""), ("msg", SIP["ack"].replace("a7", "$T").replace("ack1", "7c2d.1")), ("time next", "")],
    "incoming-hold-dtmf-refer": [
        ("msg", INVITE_IN), ("cmd answer", ""), ("msg", SIP["ack"].replace("a7", "$T")),
        ("msg", SIP["refer"].replace("a7", "$T")), ("reply 200", ""), ("cmd transfer-result 200", ""), ("reply 200", ""),
        ("msg", SIP["info-dtmf-relay"].replace("a7", "$T")),
        ("msg", SIP["reinvite-hold"].replace("a7", "$T")), ("cmd answer-reinvite", ""),
        ("msg", SIP["ack"].replace("a7", "$T").replace("101 ACK", "106 ACK")),
        ("msg", SIP["update"].replace("a7", "$T")), ("time next", ""), ("cmd hangup", ""), ("reply 200", ""),
    ],
    "outgoing-ring-answer-bye": [("cmd dial bob", ""), ("reply 100", ""), ("reply 180", ""), ("reply 200 sdp", ""), ("time 5000", ""), ("cmd dtmf 5", ""), ("reply 200", ""), ("cmd hold", ""), ("reply 200 sdp", ""), ("cmd hangup", ""), ("reply 200", "")],
    "outgoing-cancel": [("cmd dial +4930123456", ""), ("reply 180", ""), ("cmd hangup", ""), ("reply 200", ""), ("time next", "")],
    "outgoing-auth-busy": [("cmd dial sip:bob@example.com", ""), ("reply 407", ""), ("reply 486", ""), ("time next", "")],
    "outgoing-timeout": [("cmd dial bob", ""), ("reply 180", ""), ("time 181000", ""), ("time next", ""), ("time next", "")],
    "outgoing-transfer": [("cmd dial bob", ""), ("reply 200 sdp", ""), ("cmd blind carol", ""), ("reply 202", ""), ("msg", SIP["notify-sipfrag"].replace("inv1@bob", "$C").replace("b1", "$T").replace("a7", "$F")), ("cmd dial carol", ""), ("reply 200 sdp", ""), ("cmd attended", "")],
    "register-flow": [("reply 401", ""), ("reply 200", ""), ("time next", ""), ("reply 401", ""), ("reply 403", ""), ("reg edited", ""), ("reply 423", ""), ("reg lost", ""), ("time next", ""), ("reg connected", ""), ("reply 503", ""), ("reg stop", ""), ("reply 200", "")],
    "stray-and-garbage": [("msg", SIP["200-invite"]), ("msg", SIP["487-terminated"]), ("msg", SIP["bye"]), ("msg", SIP["message-unknown"]), ("msg", SIP["options"]), ("msg", "INVITE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nab"), ("msg", SIP["register-200"])],
    "dnd-and-flood": [("cmd dnd on", ""), ("msg", INVITE_IN), ("cmd dnd off", "")] + [("msg", INVITE_IN.replace("inv1@bob", f"flood{i}")) for i in range(18)],
}


def write(folder, name, data):
    path = os.path.join(HERE, "corpus", folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode())


for name, text in SIP.items():
    write("sip_message", f"seed-{name}.sip", text)
for name, records in AGENT.items():
    write("sip_agent", f"seed-{name}.txt", "\n".join(f"@@ {op}\n{payload}" for op, payload in records))
