#!/bin/bash
# PID 1 of the test guest: mount the basics and the host share (9p, at /mnt/host), bring up the
# NIC with a static address, run the scenario script named by iservm.script= on the kernel
# command line, print its exit code, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
mount -t tmpfs tmpfs /run; mkdir -p /run/lock /var/lock; mount -t tmpfs tmpfs /tmp
ip link set lo up
for m in virtio_pci virtio_net 9pnet_virtio 9p; do modprobe $m; done
mkdir -p /mnt/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none host /mnt/host \
  || echo "ISERVM: 9p mount failed"
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
IF=$(ls /sys/class/net | grep -v '^lo$' | head -1)
if [ -n "$IF" ]; then ip link set "$IF" up; ip addr add "$(arg iservm.ip)/24" dev "$IF"; fi
echo "ISERVM: up after $(cut -d' ' -f1 /proc/uptime)s, $IF"
S=$(arg iservm.script)
if [ -n "$S" ] && [ -f "/mnt/host/$S" ]; then
  bash "/mnt/host/$S"; echo "ISERVM: script exit=$?"
else
  echo "ISERVM: no script $S"
fi
sync; echo o > /proc/sysrq-trigger; sleep 60
