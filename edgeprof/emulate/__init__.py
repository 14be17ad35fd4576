"""Emulated edge devices: an arm64 Debian image under qemu-system-aarch64 that the SSH transport reaches."""
