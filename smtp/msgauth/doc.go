// Package msgauth signs and verifies mail: DKIM, SPF, DMARC and Authentication-Results.
package msgauth
