/*
 * answer_conv.h - how the long-lived bench hosts (cycle_host, fleet_host) talk to libpam:
 * answer_every_prompt() gives every prompt the same text (messages get no answer), as a user
 * typing one code would; no_delay() is the PAM_FAIL_DELAY hook that makes a refused login
 * return at once instead of sleeping.
 */
#ifndef ANSWER_CONV_H
#define ANSWER_CONV_H

#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

static int answer_every_prompt(const char *text, int num_msg, const struct pam_message **msg,
                               struct pam_response **resp)
{
    if (resp == NULL || num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)num_msg, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < num_msg; i++) {
        int style = msg[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
            r[i].resp = strdup(text);
            if (r[i].resp == NULL) {
                for (int k = 0; k < i; k++)
                    free(r[k].resp);
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static void no_delay(int status, unsigned int delay, void *appdata)
{
    (void)status;
    (void)delay;
    (void)appdata;
}

#endif
