/* Data-integrity check through libiscsi: writes pseudo-random data over a LUN with WRITE(16)
 * (FUA on every other request), reads it back with READ(16), compares, and saves what it
 * wrote so the caller can compare the target's backing file.
 * Usage: libiscsi_integrity URL MIB OUTFILE   (URL: iscsi://host:port/target/lun) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s URL MIB OUTFILE\n", argv[0]);
		return 2;
	}
	const uint32_t chunk = 256 * 1024, block = 512;
	uint64_t total = (uint64_t)strtoul(argv[2], NULL, 10) << 20;
	struct iscsi_context *iscsi = iscsi_create_context("iqn.2026-11.rs.iserd:integrity");
	struct iscsi_url *url = iscsi ? iscsi_parse_full_url(iscsi, argv[1]) : NULL;
	if (!url) {
		fprintf(stderr, "bad URL: %s\n", iscsi ? iscsi_get_error(iscsi) : "no context");
		return 1;
	}
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "login failed: %s\n", iscsi_get_error(iscsi));
		return 1;
	}
	/* The first command after login reports POWER ON/RESET. */
	struct scsi_task *tur = iscsi_testunitready_sync(iscsi, url->lun);
	if (tur)
		scsi_free_scsi_task(tur);
	unsigned char *data = malloc(total), *back = malloc(chunk);
	FILE *out = fopen(argv[3], "wb");
	if (!data || !back || !out) {
		perror("setup");
		return 1;
	}
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < total; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		data[i] = (unsigned char)x;
	}
	for (uint64_t off = 0; off < total; off += chunk) {
		struct scsi_task *t = iscsi_write16_sync(iscsi, url->lun, off / block, data + off, chunk,
							 block, 0, 0, (off / chunk) % 2, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "WRITE(16) at %llu failed: %s\n", (unsigned long long)off, iscsi_get_error(iscsi));
			return 1;
		}
		scsi_free_scsi_task(t);
	}
	struct scsi_task *sync = iscsi_synchronizecache16_sync(iscsi, url->lun, 0, 0, 0, 0);
	if (!sync || sync->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "SYNCHRONIZE CACHE(16) failed\n");
		return 1;
	}
	scsi_free_scsi_task(sync);
	for (uint64_t off = 0; off < total; off += chunk) {
		struct scsi_task *t = iscsi_read16_sync(iscsi, url->lun, off / block, chunk, block, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != (int)chunk) {
			fprintf(stderr, "READ(16) at %llu failed: %s\n", (unsigned long long)off, iscsi_get_error(iscsi));
			return 1;
		}
		if (memcmp(t->datain.data, data + off, chunk) != 0) {
			fprintf(stderr, "data differ in the chunk at byte %llu\n", (unsigned long long)off);
			return 1;
		}
		scsi_free_scsi_task(t);
	}
	if (fwrite(data, 1, total, out) != total || fclose(out) != 0) {
		perror("OUTFILE");
		return 1;
	}
	iscsi_logout_sync(iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	printf("wrote, read back and compared %llu MiB\n", (unsigned long long)(total >> 20));
	return 0;
}
