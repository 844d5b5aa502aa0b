#!/usr/bin/env bash
# vmm-image.sh: builds the testbed's VMM image, loads it into every node's
# runtime, and prints its name. It holds real VMM-named programs for the
# evidence's negative cases: Debian's qemu-system-x86_64 (with its TCG
# module and firmware, so it runs with software emulation, no KVM, as
# KubeVirt's virt-launcher or an emulating CI job runs it in a plain pod),
# and the pause program under the name cloud-hypervisor (a renamed binary).
# Neither makes a pod a VM: only a VM runtime's structure does.
# Built once per QEMU version into $TB/images.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VMM_IMAGE=localhost/rcaudit/vmm:testbed

apt_install qemu-system-x86 gcc libc6-dev
qemu=/usr/bin/qemu-system-x86_64
version=$(dpkg-query -W -f='${Version}' qemu-system-x86 | tr -c 'A-Za-z0-9.\n' '_')
tarball="$TB/images/vmm-$version.tar"
if [ ! -f "$tarball" ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  root="$work/rootfs"
  mkdir -p "$root/usr/bin" "$root/usr/share" "$TB/images"
  cp "$qemu" "$root/usr/bin/"
  # Debian's QEMU loads its accelerator as a module; the TCG one is all it needs here.
  modules=/usr/lib/x86_64-linux-gnu/qemu
  mkdir -p "$root$modules"
  cp "$modules/accel-tcg-x86_64.so" "$root$modules/"
  # Every shared library the binary and the module link, where ldd finds them.
  for lib in $( { ldd "$qemu"; ldd "$modules/accel-tcg-x86_64.so"; } | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # Firmware: /usr/share/qemu links into seabios.
  cp -a /usr/share/qemu /usr/share/seabios "$root/usr/share/"
  gcc -static -Os -Wall -o "$root/usr/bin/cloud-hypervisor" "$RCA_ROOT/hack/testbed/images/pause.c" || die "cannot compile the renamed binary"
  "$RCA_ROOT/hack/testbed/oci-image.sh" "$tarball.tmp" "$VMM_IMAGE" "$root" '{"Entrypoint":["/usr/bin/qemu-system-x86_64"]}'
  mv "$tarball.tmp" "$tarball"
fi
"$RCA_ROOT/hack/testbed/load-image.sh" "$tarball"
echo "$VMM_IMAGE"
