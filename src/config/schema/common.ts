/**
 * Builders shared by every section of the config schema: objects that refuse unknown keys, ports
 * and millisecond durations with their bounds, so each key states its default the same way.
 */
import { type ObjectOptions, Type } from '@sinclair/typebox';

export const strict = <T extends Parameters<typeof Type.Object>[0]>(props: T, opts: ObjectOptions) =>
  Type.Object(props, { additionalProperties: false, ...opts });

export const Port = (description: string, dflt: number) => Type.Integer({ minimum: 1, maximum: 65535, default: dflt, description });

export const Ms = (description: string, dflt: number, minimum = 1) => Type.Integer({ minimum, maximum: 24 * 3600 * 1000, default: dflt, description });
