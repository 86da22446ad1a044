/* What a program sees through an i2c-dev node, printed so that two nodes can be compared:
 * the real /dev/i2c-N and one `smbus-proxy attach` made for the same bus. It uses the
 * kernel's ioctls directly (no libi2c): I2C_FUNCS, I2C_SMBUS, I2C_RDWR with repeated starts,
 * I2C_SLAVE with read() and write(), the errno of a NACK and of a driver-owned address, and
 * I2C_SLAVE_FORCE.
 *
 *   i2cdev-check smbus NODE CHIP OWNED EMPTY   an SMBus adapter (the rig's i2c-stub)
 *   i2cdev-check i2c NODE EEPROM EMPTY         a plain-I2C adapter with an EEPROM
 *   i2cdev-check bench NODE CHIP COUNT         COUNT I2C_SMBUS byte reads: microseconds each
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, int rc, const unsigned char *buf, int len) {
	printf("%s: ", what);
	if (rc < 0) {
		printf("errno %d (%s)\n", errno, strerror(errno));
		return;
	}
	printf("rc %d", rc);
	for (int i = 0; i < len; i++)
		printf(" %02x", buf[i]);
	printf("\n");
}

static int smbus(int fd, char rw, unsigned char cmd, int size, union i2c_smbus_data *data) {
	struct i2c_smbus_ioctl_data args = { .read_write = rw, .command = cmd, .size = size, .data = data };
	return ioctl(fd, I2C_SMBUS, &args);
}

static int smbus_checks(int fd, int chip, int owned, int empty) {
	union i2c_smbus_data d;
	unsigned long funcs = 0;
	int rc = ioctl(fd, I2C_FUNCS, &funcs);
	printf("I2C_FUNCS: rc %d funcs %#lx\n", rc, funcs);
	show("I2C_SLAVE chip", ioctl(fd, I2C_SLAVE, chip), NULL, 0);
	d.byte = 0x5a;
	show("write byte data 0x70", smbus(fd, I2C_SMBUS_WRITE, 0x70, I2C_SMBUS_BYTE_DATA, &d), NULL, 0);
	memset(&d, 0, sizeof d);
	rc = smbus(fd, I2C_SMBUS_READ, 0x70, I2C_SMBUS_BYTE_DATA, &d);
	show("read byte data 0x70", rc, &d.byte, 1);
	d.block[0] = 3; d.block[1] = 1; d.block[2] = 2; d.block[3] = 3;
	show("write i2c block 0x78", smbus(fd, I2C_SMBUS_WRITE, 0x78, I2C_SMBUS_I2C_BLOCK_DATA, &d), NULL, 0);
	memset(&d, 0, sizeof d);
	d.block[0] = 3;
	rc = smbus(fd, I2C_SMBUS_READ, 0x78, I2C_SMBUS_I2C_BLOCK_DATA, &d);
	show("read i2c block 0x78", rc, d.block, 4);
	rc = smbus(fd, I2C_SMBUS_READ, 0x78, I2C_SMBUS_WORD_DATA, &d);
	show("read word 0x78", rc, d.block, 2);
	unsigned char buf[4] = { 0x70 };
	show("write() plain I2C", write(fd, buf, 1), NULL, 0);
	show("read() plain I2C", read(fd, buf, 2), buf, 0);
	show("I2C_SLAVE empty", ioctl(fd, I2C_SLAVE, empty), NULL, 0);
	show("read byte data from empty", smbus(fd, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE_DATA, &d), NULL, 0);
	show("I2C_SLAVE owned", ioctl(fd, I2C_SLAVE, owned), NULL, 0);
	show("I2C_SLAVE_FORCE owned", ioctl(fd, I2C_SLAVE_FORCE, owned), NULL, 0);
	rc = smbus(fd, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE_DATA, &d);
	show("read byte data from owned, forced", rc, &d.byte, 1);
	show("I2C_SLAVE 0x80 without I2C_TENBIT", ioctl(fd, I2C_SLAVE, 0x80), NULL, 0);
	show("I2C_SMBUS of size 9", smbus(fd, I2C_SMBUS_READ, 0, 9, &d), NULL, 0);
	show("I2C_TIMEOUT 100 (1 s)", ioctl(fd, I2C_TIMEOUT, 100), NULL, 0);
	show("I2C_RETRIES 3", ioctl(fd, I2C_RETRIES, 3), NULL, 0);
	show("I2C_SLAVE chip", ioctl(fd, I2C_SLAVE, chip), NULL, 0);
	rc = smbus(fd, I2C_SMBUS_READ, 0x70, I2C_SMBUS_BYTE_DATA, &d);
	show("read byte data 0x70 after both", rc, &d.byte, 1);
	show("I2C_PEC 1", ioctl(fd, I2C_PEC, 1), NULL, 0);
	rc = smbus(fd, I2C_SMBUS_READ, 0x70, I2C_SMBUS_BYTE_DATA, &d);
	show("read byte data 0x70 with PEC", rc, &d.byte, 1);
	return 0;
}

static int i2c_checks(int fd, int eeprom, int empty) {
	unsigned long funcs = 0;
	int rc = ioctl(fd, I2C_FUNCS, &funcs);
	printf("I2C_FUNCS: rc %d funcs %#lx\n", rc, funcs);
	unsigned char w[] = { 0xc0, 0x11, 0x22, 0x33 }, ptr[] = { 0xc0 }, r[8] = { 0 }, r2[2] = { 0 };
	struct i2c_msg write_msg[] = { { .addr = eeprom, .flags = 0, .len = 4, .buf = w } };
	struct i2c_rdwr_ioctl_data rdwr = { .msgs = write_msg, .nmsgs = 1 };
	show("I2C_RDWR write", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	usleep(10000); /* the EEPROM's write cycle */
	struct i2c_msg read_msgs[] = {
		{ .addr = eeprom, .flags = 0, .len = 1, .buf = ptr },
		{ .addr = eeprom, .flags = I2C_M_RD, .len = 8, .buf = r },
		{ .addr = eeprom, .flags = I2C_M_RD, .len = 2, .buf = r2 },
	};
	rdwr.msgs = read_msgs;
	rdwr.nmsgs = 3;
	rc = ioctl(fd, I2C_RDWR, &rdwr);
	show("I2C_RDWR write, read 8, read 2 (repeated starts)", rc, r, 8);
	show("  the second read", rc, r2, 2);
	show("I2C_SLAVE eeprom", ioctl(fd, I2C_SLAVE, eeprom), NULL, 0);
	show("write() pointer", write(fd, ptr, 1), NULL, 0);
	memset(r, 0, sizeof r);
	rc = read(fd, r, 4);
	show("read() 4", rc, r, rc > 0 ? rc : 0);
	struct i2c_msg nack[] = { { .addr = empty, .flags = I2C_M_RD, .len = 1, .buf = r } };
	rdwr.msgs = nack;
	rdwr.nmsgs = 1;
	show("I2C_RDWR read from empty", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	show("I2C_SLAVE empty", ioctl(fd, I2C_SLAVE, empty), NULL, 0);
	show("read() from empty", read(fd, r, 1), NULL, 0);
	struct i2c_msg many[43];
	for (int i = 0; i < 43; i++)
		many[i] = (struct i2c_msg){ .addr = eeprom, .flags = I2C_M_RD, .len = 1, .buf = r };
	rdwr.msgs = many;
	rdwr.nmsgs = 43;
	show("I2C_RDWR of 43 messages", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	rdwr.nmsgs = 42;
	show("I2C_RDWR of 42 messages", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	static unsigned char big[8193];
	struct i2c_msg huge[] = { { .addr = eeprom, .flags = I2C_M_RD, .len = 8193, .buf = big } };
	rdwr.msgs = huge;
	rdwr.nmsgs = 1;
	show("I2C_RDWR of 8193 bytes", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	rdwr.msgs = (struct i2c_msg *)8; /* a bad pointer */
	show("I2C_RDWR with a bad pointer", ioctl(fd, I2C_RDWR, &rdwr), NULL, 0);
	/* i2c-dev sends at most 8192 bytes of a write() and says so: the EEPROM's pointer, then a
	 * pattern that wraps around its 256 bytes. */
	static unsigned char long_write[10000];
	for (int i = 0; i < (int)sizeof long_write; i++)
		long_write[i] = i & 0xff;
	show("I2C_SLAVE eeprom", ioctl(fd, I2C_SLAVE, eeprom), NULL, 0);
	show("write() of 10000 bytes", write(fd, long_write, sizeof long_write), NULL, 0);
	return 0;
}

static int bench(int fd, int chip, int count) {
	union i2c_smbus_data d;
	struct timespec a, b;
	if (ioctl(fd, I2C_SLAVE, chip) < 0) {
		perror("I2C_SLAVE");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < count; i++) {
		if (smbus(fd, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE_DATA, &d) < 0) {
			perror("I2C_SMBUS");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / count;
	printf("%.1f us per I2C_SMBUS read_byte_data (%d calls)\n", us, count);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: %s smbus|i2c|bench NODE ...\n", argv[0]);
		return 2;
	}
	int fd = open(argv[2], O_RDWR);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	int a = strtol(argv[3], NULL, 0), b = strtol(argv[4], NULL, 0);
	if (!strcmp(argv[1], "smbus") && argc == 6)
		return smbus_checks(fd, a, b, strtol(argv[5], NULL, 0));
	if (!strcmp(argv[1], "i2c"))
		return i2c_checks(fd, a, b);
	if (!strcmp(argv[1], "bench"))
		return bench(fd, a, b);
	fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[1]);
	return 2;
}
