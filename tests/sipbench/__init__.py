"""Loopback SIP test bench: kamailio, SIPp and baresip as real peers (see plugin.py)."""
