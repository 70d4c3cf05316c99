// The tests of standalone-launch.test.js against a proxy-mode instance (issue 14):
// smartgate serve --fhir-upstream in front of a separate smartgate process
// that holds the data (lib/support.js, startSmartgateWithURLs). The app,
// the launch, the pickers and every FHIR read go through the proxy.
process.env.SMARTGATE_E2E_PROXY = '1';
await import('./standalone-launch.test.js');
