// OHIF Viewer configuration for reading pacsweb (docs/viewer.md, "OHIF").
//
// OHIF is served at the root of its own origin, and the same origin's
// reverse proxy passes /dicomweb/, /accounts/ and /static/ to pacsweb. The
// roots below are therefore paths, not URLs: OHIF's requests go to its own
// origin and carry the pacsweb session cookie of the signed-in user, so
// pacsweb needs no CORS headers and no token in the browser.
window.config = {
  routerBasename: '/',
  // The prebuilt app bundles its extensions and modes.
  extensions: [],
  modes: [],
  showStudyList: true,
  // Decoder workers; the test machine has two cores (OHIF's default is 3).
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  defaultDataSourceName: 'pacsweb',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'pacsweb',
      configuration: {
        friendlyName: 'pacsweb',
        name: 'pacsweb',
        qidoRoot: '/dicomweb',
        wadoRoot: '/dicomweb',
        // pacsweb has no WADO-URI service; with 'wadors' rendering OHIF
        // does not use this root, but the data source expects one.
        wadoUriRoot: '/dicomweb',
        // QIDO-RS answers includefield (names, tags or "all"), fuzzymatching
        // on person names, and "*" / "?" wildcards (docs/search.md).
        qidoSupportsIncludeField: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        // Pixels and thumbnails decoded from WADO-RS frames; series metadata
        // fetched when a series is opened. thumbnailRendering: 'thumbnail'
        // (pacsweb's rendered JPEG thumbnails) works too.
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        // pacsweb does not implement the Reject Note workflow.
        supportsReject: false,
        // BulkDataURIs in metadata are absolute URLs on this origin.
        bulkDataURI: { enabled: true },
      },
    },
  ],
};
