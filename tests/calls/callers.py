"""SIPp caller scenarios built per test: speak a WAV (as RTP from a pcap), key DTMF, pause, hang up."""

from __future__ import annotations

from pathlib import Path

from tests.sipbench.audio import write_rtp_pcap

_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="{name}">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Resident" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
"""

_BYE = """  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>
"""

_AWAIT_BYE = """  <recv request="BYE" timeout="90000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
"""

_REINVITE = """  <send retrans="500"><![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 {version} IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {port} RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a={direction}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
"""

_DTMF_FILES = {"*": "star", "#": "pound", **{str(d): str(d) for d in range(10)}}


def caller_scenario(path: Path, steps: list[tuple[str, object]], caller: str = "13800138000",
                    hang_up: str = "caller") -> Path:
    """steps: ("speak", pcm16 bytes at 8 kHz) | ("pause", ms) | ("dtmf", "4*2*301#") |
    ("reinvite", {"port": RTP port or "[media_port]", "direction": "sendrecv"|"sendonly"|"inactive"}).
    Speech is played in the background by SIPp, so a pause must follow it for its length.
    hang_up: "caller" sends BYE after the steps, "agent" waits for the agent's BYE,
    "none" goes silent without BYE (the agent must time the call out)."""
    body = [_HEAD.format(name=path.stem, caller=caller)]
    cseq = 1
    for n, (kind, arg) in enumerate(steps):
        if kind == "speak":
            assert isinstance(arg, bytes)
            pcap = write_rtp_pcap(path.with_name(f"{path.stem}-speech{n}.pcap"), arg)
            body.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
        elif kind == "pause":
            body.append(f'  <pause milliseconds="{int(arg)}"/>\n')  # type: ignore[call-overload]
        elif kind == "dtmf":
            for key in str(arg):
                pcap_name = f"/usr/share/sip-tester/dtmf_2833_{_DTMF_FILES[key]}.pcap"
                body.append(f'  <nop><action><exec play_pcap_audio="{pcap_name}"/></action></nop>\n'
                            '  <pause milliseconds="600"/>\n')
        elif kind == "reinvite":
            assert isinstance(arg, dict)
            cseq += 1
            body.append(_REINVITE.format(caller=caller, cseq=cseq, version=2353687637 + cseq,
                                         port=arg.get("port", "[media_port]"),
                                         direction=arg.get("direction", "sendrecv")))
        else:
            raise ValueError(kind)
    if hang_up == "caller":
        body.append(_BYE.format(caller=caller).replace("CSeq: 2 BYE", f"CSeq: {cseq + 1} BYE"))
    elif hang_up == "agent":
        body.append(_AWAIT_BYE)
    else:  # RTP stops and nothing more is said: the agent must time the call out
        body.append('  <pause milliseconds="60000"/>\n')
    body.append("</scenario>\n")
    path.write_text("".join(body))
    return path
