/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xen_abi.h - the hypervisor's grant ABI that libgmap speaks: the GNTST_*
 * statuses a map or copy returns, the GNTCOPY_* and GTF_* flags, and
 * grant_entry_v1_t, from Xen's public headers (libxen-dev).  The xen
 * backend gets them from the hypervisor, the sim backend models the same
 * rules (sim_abi.h), and the core reports them (status.c): one source.
 */
#ifndef GMAP_XEN_ABI_H
#define GMAP_XEN_ABI_H

/* Xen's public headers need the fixed-width types first. */
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#endif /* GMAP_XEN_ABI_H */
