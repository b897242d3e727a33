"""Who can take a caller: users' extensions and presence (在岗/离开/通话中), the ring group and the
duty roster by shift (settings). The dialling itself is in calls/transfer.py."""
