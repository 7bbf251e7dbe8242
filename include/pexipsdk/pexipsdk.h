/**
 * @file pexipsdk/pexipsdk.h
 * @brief Umbrella header for libpexipsdk (the standard API).
 *
 * See libpexipsdk(3) for conventions: functions return 0 or a negative
 * pex_error_code; objects returned through out-parameters belong to the
 * caller and are freed with the matching *_free(); values returned
 * directly are borrowed.
 */
#ifndef PEXIPSDK_H
#define PEXIPSDK_H

#include "common.h"
#include "pexipsdk/version.h"  /* generated; found through the include path */
#include "errors.h"
#include "buf.h"
#include "log.h"
#include "config.h"
#include "client.h"
#include "room.h"
#include "queue.h"
#include "uui.h"
#include "pool.h"
#include "event.h"
#include "gc.h"
#include "metrics.h"

#endif
