#!/usr/bin/env bash
# Wireshark as an independent judge of our wire format: decode a pcap of RoCEv2 traffic between
# an iSER initiator and target (two-vm.sh writes one) with tshark and check that
#   - every RC Send message starts with an iSER header, every iSCSI control-type one with an
#     iSCSI PDU; the PDUs are counted by opcode and Login Request/Response, SCSI
#     Command/Response and Logout Request/Response are there;
#   - every Send with Invalidate from the target invalidates the STag its command advertised,
#     and none goes to an initiator that declined them in its CM private data;
#   - no frame is malformed and no expert entry is at error level
#     (`tshark -r PCAP -Y '_ws.malformed || _ws.expert.severity == error'` prints nothing).
# usage: pcap-check.sh PCAP       Prints PASS/FAIL lines and the counts; exit 0 when all passed.
set -uo pipefail
PCAP=${1:?usage: pcap-check.sh PCAP}
F=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; F=$((F + 1)); }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
command -v tshark > /dev/null || { fail "tshark (not installed)"; exit 1; }
[ -s "$PCAP" ] || { fail "tshark-pcap (none written: $PCAP)"; exit 1; }
# One pass: frame, BTH opcode, iSER opcode, iSCSI opcode, info column.
TSV=$W/link.tsv
if ! tshark -n -r "$PCAP" -T fields -e frame.number -e infiniband.bth.opcode -e iser.flags.opcode \
  -e iscsi.opcode -e _ws.col.Info > "$TSV" 2> "$W/tshark.err"; then
  fail "tshark-runs ($(grep -v 'Running as user' "$W/tshark.err" | head -3))"; exit 1
fi
# col N of TSV, counted by value: `value×count, ...`
tally() { awk -F'\t' -v c="$1" '$c != "" {print $c}' "$TSV" | sort | uniq -c | sort -k2 -n |
  awk '{printf "%s%s×%s", s, $2, $1; s=", "}'; }
echo "  pcap: $(grep -c . "$TSV") frames, $(awk -F'\t' '$2 != ""' "$TSV" | grep -c .) RoCEv2, $(du -h "$PCAP" | cut -f1)"
echo "  RoCEv2 by BTH opcode: $(tally 2)"
echo "  CM: $(awk -F'\t' '$2 == 100 {sub(/^CM: /, "", $5); print $5}' "$TSV" | sort | uniq -c |
  awk '{printf "%s%s×%s", s, $2, $1; s=", "}')"

# An iSER message is one RC Send; BTH opcodes SEND First (0), SEND Only (4), SEND Only with
# Immediate (5) and SEND Only with Invalidate (23) start one. Each must start with an iSER
# header (RFC 7145 §9.2: 0x1 iSCSI control-type, 0x2 Hello, 0x3 HelloReply) and each
# control-type message with an iSCSI PDU.
starts() { awk -F'\t' '$2 == 0 || $2 == 4 || $2 == 5 || $2 == 23' "$TSV"; }
sends=$(starts | grep -c .)
iser_ctrl=$(starts | awk -F'\t' '$3 == "0x01"' | grep -c .)
iser_hello=$(starts | awk -F'\t' '$3 == "0x02" || $3 == "0x03"' | grep -c .)
elsewhere=$(awk -F'\t' '$3 != "" && !($2 == 0 || $2 == 4 || $2 == 5 || $2 == 23)' "$TSV" | grep -c .)
echo "  RC Send messages: $sends; iSER headers: $iser_ctrl iSCSI control-type, $iser_hello Hello/HelloReply"
[ "$elsewhere" = 0 ] || echo "  note: Wireshark's iSER heuristic also matched $elsewhere RDMA payload frames"
if [ "$iser_ctrl" -gt 0 ] && [ $((iser_ctrl + iser_hello)) = "$sends" ]; then
  pass "tshark-iser-headers ($iser_ctrl)"
else fail "tshark-iser-headers ($sends Send messages, $iser_ctrl + $iser_hello with an iSER header)"; fi

# iSCSI PDUs by opcode (RFC 7143 §11.2.1.2), the immediate bit masked off.
declare -A ON=([0x00]=NOP-Out [0x01]="SCSI Command" [0x02]="Task Management Request"
  [0x03]="Login Request" [0x04]="Text Request" [0x05]="SCSI Data-Out" [0x06]="Logout Request"
  [0x10]=SNACK [0x20]=NOP-In [0x21]="SCSI Response" [0x22]="Task Management Response"
  [0x23]="Login Response" [0x24]="Text Response" [0x25]="SCSI Data-In" [0x26]="Logout Response"
  [0x31]=R2T [0x32]="Asynchronous Message" [0x3f]=Reject)
declare -A N=()
while read -r n op; do N[$op]=$n; done < <(starts | awk -F'\t' '$3 == "0x01" && $4 != "" {print $4}' |
  while read -r o; do printf '0x%02x\n' $((o & 0x3f)); done | sort | uniq -c)
total=0
for op in $(printf '%s\n' "${!N[@]}" | sort); do
  echo "  iSCSI $op ${ON[$op]:-unknown}: ${N[$op]}"; total=$((total + N[$op]))
done
missing=""
for op in 0x03 0x23 0x01 0x21 0x06 0x26; do [ -n "${N[$op]:-}" ] || missing="$missing ${ON[$op]},"; done
if [ -z "$missing" ]; then pass "tshark-iscsi-pdus ($total)"
else fail "tshark-iscsi-pdus (none decoded of:${missing%,})"; fi
if [ "$iser_ctrl" -gt 0 ] && [ "$total" = "$iser_ctrl" ]; then pass "tshark-every-iser-message-has-an-iscsi-pdu"
else fail "tshark-every-iser-message-has-an-iscsi-pdu ($iser_ctrl iSER, $total iSCSI)"; fi

# Send with Invalidate (BTH 22, 23) from the target must invalidate the STag the command
# advertised in its iSER header (RFC 7145 §5.2.2.3), and never go to an initiator whose CM
# private data said "no Send with Invalidate" (Linux iser_cm_hdr flag 0x40). Connections are
# paired through the CM: REQ (initiator QPN) and REP (target QPN) share a communication ID.
INV=$W/inv.tsv
tshark -n -r "$PCAP" -T fields -E occurrence=f -e ip.src -e ip.dst -e infiniband.bth.opcode \
  -e infiniband.bth.destqp -e infiniband.cm.req -e infiniband.cm.req.localqpn \
  -e infiniband.cm.req.ip_cm.private -e infiniband.cm.rep.remotecommid \
  -e infiniband.cm.rep.localqpn -e iser.write_stag -e iser.read_stag -e iscsi.opcode \
  -e iscsi.initiatortasktag -e infiniband.ieth 2> /dev/null > "$INV"
awk -F'\t' '
  function hex(x) { sub(/^0x/, "", x); return tolower(x) }
  function num(x,  i, v) { x = hex(x); v = 0
    for (i = 1; i <= length(x); i++) v = v * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
    return v }
  $5 != "" { ini[$5] = $1 "/" $6; nows[$1 "/" $6] = int(num(substr($7, 1, 2)) / 64) % 2 }
  $8 != "" && ($8 in ini) { peer[$1 "/" $9] = ini[$8]; peer[ini[$8]] = $1 "/" $9 }
  $12 != "" && num($12) % 64 == 1 {
    stag[$2 "/" $4 "/" $13] = hex($11) != "00000000" ? hex($11) : hex($10) }
  $3 == 22 || $3 == 23 {
    n++; i = $2 "/" $4; k = peer[i] "/" $13
    if (nows[i]) { bad++; print "  Send with Invalidate to " i ", which declined it"; next }
    if ((k in stag) && stag[k] == hex($14)) ok++
    else { bad++; print "  Send with Invalidate of " hex($14) " for ITT " $13 " to " i ", command STag " stag[k] }
  }
  END { printf "SUM %d %d\n", n, bad }' "$INV" > "$W/inv.out"
grep -v '^SUM' "$W/inv.out" | head -10
read -r _ n_inv bad_inv < <(grep '^SUM' "$W/inv.out")
if [ "$bad_inv" = 0 ]; then pass "tshark-send-with-invalidate-of-the-command-stag ($n_inv)"
else fail "tshark-send-with-invalidate-of-the-command-stag ($bad_inv of $n_inv wrong)"; fi

# No malformed frame, no error-level expert entry (warnings are listed, not counted).
BAD='_ws.malformed || _ws.expert.severity == error'
if ! tshark -n -r "$PCAP" -Y "$BAD" > "$W/bad.txt" 2> "$W/tshark.err"; then
  fail "tshark-no-malformed-or-error (tshark: $(grep -v 'Running as user' "$W/tshark.err" | head -2))"
elif [ -s "$W/bad.txt" ]; then
  fail "tshark-no-malformed-or-error ($(grep -c . "$W/bad.txt") frames)"
  head -20 "$W/bad.txt" | sed 's/^/  /'
  tshark -n -r "$PCAP" -Y "$BAD" -T fields -e frame.number -e _ws.expert.message 2> /dev/null |
    head -20 | sed 's/^/  expert: /'
else pass "tshark-no-malformed-or-error"; fi
tshark -n -r "$PCAP" -Y '_ws.expert.severity == warning' -T fields -e _ws.expert.message 2> /dev/null |
  tr ',' '\n' | sort | uniq -c | sort -rn | head -10 | sed 's/^ */  tshark warning ×/'
[ "$F" = 0 ]
