/* CSV output of cases (RFC 4180): one header row, one row per case, CRLF
 * line ends, fields quoted only when they must be. */
#ifndef CL_CLIENT_CSV_H
#define CL_CLIENT_CSV_H

#include <stdint.h>

#include "closeloop/client.h"
#include "common/buf.h"

/* The header row, CRLF included. */
#define CSV_HEADER                                                                                 \
    "id,number_customergauge,status,assignee_id,assignee_username,assignee_email,"                 \
    "time_to_follow_up,time_to_close,created_at,updated_at\r\n"

/* Appends s as one field, without a separator. A field holding a comma, a
 * double quote, CR or LF, or that is empty, is enclosed in double quotes with
 * inner quotes doubled; others are copied as they are. NULL (the API's null)
 * appends nothing, so null and "" stay distinguishable: `,,` versus `,"",`. */
void csv_field(struct buf *b, const char *s);

/* Appends the row for one case, CRLF included. The assignee is flattened into
 * three fields; a null assignee or null hours are empty fields. */
void csv_case(struct buf *b, const cl_case *c);

#endif
