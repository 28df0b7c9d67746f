// The request parameters of the launch template actions (actions/launch-templates.ts), each
// honoured, refused or ignored (rules.ts).
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

/** A version's data: the members RunInstances honours here are kept; the service refuses every other by name. */
const DATA: ActionParameters = {
  'LaunchTemplateData.*': honoured(
    'the members RunInstances takes here are kept; any other member is refused by name (UnsupportedOperation) when the version is made',
  ),
};

/** Which template: by id or by name, one of the two. */
const WHICH: ActionParameters = {
  LaunchTemplateId: honoured(),
  LaunchTemplateName: honoured(),
};

const NO_ALIASES = 'image ids are never Systems Manager aliases here; only false is accepted';
const NO_MANAGED = 'no launch template here is managed by another service';

export const launchTemplateParameters: Readonly<Record<string, ActionParameters>> = {
  CreateLaunchTemplate: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    ...DATA,
    LaunchTemplateName: honoured(),
    ClientToken: honoured('a retry with the same token answers the first template'),
    VersionDescription: honoured(),
    'Operator.Principal': refused('no other service manages templates here.', { sample: 'x' }),
  },
  CreateLaunchTemplateVersion: {
    ...DRY_RUN,
    ...WHICH,
    ...DATA,
    ClientToken: ignored(
      'versions are numbered in order; a retried request makes one more version',
    ),
    SourceVersion: honoured('its data, with the new members over it'),
    VersionDescription: honoured(),
    ResolveAlias: refused(NO_ALIASES, { accepts: ['false'], sample: 'true' }),
  },
  DescribeLaunchTemplates: {
    ...DRY_RUN,
    ...FILTERS,
    'LaunchTemplateId.N': honoured(),
    'LaunchTemplateName.N': honoured(),
    NextToken: honoured(),
    MaxResults: honoured(),
    IncludeManagedResources: ignored(NO_MANAGED, 'true'),
  },
  DescribeLaunchTemplateVersions: {
    ...DRY_RUN,
    ...FILTERS,
    ...WHICH,
    'LaunchTemplateVersion.N': honoured('numbers, $Latest and $Default'),
    MinVersion: honoured(),
    MaxVersion: honoured(),
    NextToken: honoured(),
    MaxResults: honoured(),
    ResolveAlias: refused(NO_ALIASES, { accepts: ['false'], sample: 'true' }),
    IncludeManagedResources: ignored(NO_MANAGED, 'true'),
  },
  ModifyLaunchTemplate: {
    ...DRY_RUN,
    ...WHICH,
    ClientToken: ignored('setting the same default version again changes nothing'),
    SetDefaultVersion: honoured(),
  },
  DeleteLaunchTemplate: { ...DRY_RUN, ...WHICH },
  DeleteLaunchTemplateVersions: {
    ...DRY_RUN,
    ...WHICH,
    'LaunchTemplateVersion.N': honoured('each version on its own; the default one stays'),
  },
};
