// Package msgauth signs outgoing mail with DKIM and checks incoming mail
// with SPF, DKIM and DMARC, writing the verdict as Authentication-Results.
package msgauth
