package webhooksig

// schemes maps each scheme name of the sources document to its verifier's
// constructor: adding a scheme is one line here (keep it sorted).
var schemes = map[string]func(Config) (Verifier, error){
	Bitbucket:  newBodyProvider(Bitbucket),
	Calendly:   newTS(Calendly, CalendlyTolerance),
	Dropbox:    newBodyProvider(Dropbox),
	Discord:    newDiscord,
	GitHub:     newGitHub,
	GitLab:     newGitLab,
	MSGraph:    newMSGraph,
	OIDC:       newOIDC,
	Okta:       newOkta,
	SendGrid:   newSendGrid,
	SNS:        newSNS,
	HMACSHA256: newHMACSHA256,
	HubSpot:    newURLProvider(HubSpot),
	Intercom:   newBodyProvider(Intercom),
	Linear:     newBodyProvider(Linear),
	Mailgun:    newMailgun,
	Meta:       newBodyProvider(Meta),
	Paddle:     newTS(Paddle, PaddleTolerance),
	PagerDuty:  newTS(PagerDuty, DefaultTolerance),
	Sentry:     newBodyProvider(Sentry),
	Shopify:    newBodyProvider(Shopify),
	Slack:      newTS(Slack, SlackTolerance),
	Square:     newURLProvider(Square),
	Standard:   newStandard,
	Stripe:     newStripe,
	Twilio:     newURLProvider(Twilio),
	Typeform:   newBodyProvider(Typeform),
	X:          newBodyProvider(X),
	Zoom:       newTS(Zoom, DefaultTolerance),
}

// getHandshakes are the schemes whose provider confirms an endpoint with a
// GET (AcceptsGET; keep it sorted).
var getHandshakes = map[string]bool{
	"dropbox": true,
	"meta":    true,
	"okta":    true,
	"x":       true,
}
