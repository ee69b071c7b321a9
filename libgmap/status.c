/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status.c - names and meanings of grant status codes, and their errno. */
#include <errno.h>

#include "private.h"
#include "xen_abi.h"

struct status_text {
	int16_t status;
	const char *text;
};

static const struct status_text texts[] = {
	{ GNTST_okay, "GNTST_okay: no error" },
	{ GNTST_general_error, "GNTST_general_error: not permitted (not granted to this domain, read-only grant mapped for writing, or revoked)" },
	{ GNTST_bad_domain, "GNTST_bad_domain: unrecognised domain" },
	{ GNTST_bad_gntref, "GNTST_bad_gntref: unrecognised or inappropriate grant reference (past the granter's table)" },
	{ GNTST_bad_handle, "GNTST_bad_handle: unrecognised or inappropriate handle" },
	{ GNTST_bad_virt_addr, "GNTST_bad_virt_addr: inappropriate virtual address to map" },
	{ GNTST_bad_dev_addr, "GNTST_bad_dev_addr: inappropriate device address to unmap" },
	{ GNTST_no_device_space, "GNTST_no_device_space: out of space in I/O MMU" },
	{ GNTST_permission_denied, "GNTST_permission_denied: not enough privilege for operation" },
	{ GNTST_bad_page, "GNTST_bad_page: the granted frame is invalid" },
	{ GNTST_bad_copy_arg, "GNTST_bad_copy_arg: copy arguments cross page boundary" },
	{ GNTST_address_too_big, "GNTST_address_too_big: transfer page address too large" },
	{ GNTST_eagain, "GNTST_eagain: the granted page is not available now (paged out); retried until the bound" },
	{ GNTST_no_space, "GNTST_no_space: out of space (handles etc)" },
	{ GMAP_ST_BACKEND, "backend failure: the mapping machinery failed (see errno)" },
	{ GMAP_ST_NOMEM, "out of memory in libgmap" },
	{ GMAP_ST_BUDGET, "the window's budget of mapped grants stayed used up for 1 s: every mapped grant is pinned (see max_mapped)" },
	{ GMAP_ST_LOST, "a refused map left a hole in the window that another mapping of the process took: the page is not libgmap's any more" },
	{ GMAP_ST_VMAS, "the window's budget of VMAs stayed used up for 1 s: its mappings are pinned or its pages poisoned (see max_vmas)" },
};

GMAP_EXPORT const char *gmap_status_str(int16_t status)
{
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].status == status)
			return texts[i].text;
	return "unknown grant status";
}

int gmap_status_errno(int16_t status)
{
	switch (status) {
	case GNTST_okay:
		return 0;
	case GNTST_general_error:
	case GNTST_permission_denied:
		return EACCES;
	case GNTST_bad_domain:
		return ESRCH;
	case GNTST_bad_gntref:
		return ENXIO;
	case GNTST_bad_page:
		return EFAULT;
	case GNTST_eagain:
		return EAGAIN;
	case GNTST_no_device_space:
	case GNTST_no_space:
	case GMAP_ST_NOMEM:
		return ENOMEM;
	case GMAP_ST_BUDGET:
	case GMAP_ST_VMAS:
		return ENOSPC;
	case GMAP_ST_LOST:
		return EEXIST;
	default:
		return EIO;
	}
}
