#ifndef VIGIL_THREAD_H
#define VIGIL_THREAD_H

/* Names the calling thread as `top -H` and /proc show it (Linux keeps 15 bytes; longer names are cut). */
void vigil_thread_set_name(const char *name);

#endif
