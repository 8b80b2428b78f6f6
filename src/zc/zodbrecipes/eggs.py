"""Working sets for generated scripts, resolved as zc.recipe.egg does."""
import zc.buildout
import zc.recipe.egg


def working_set(buildout, opt, option, requirements):
    """The working set for requirements, installing what is missing the way
    zc.recipe.egg does (respecting offline, newest, index, find-links and
    versions); errors name the part's option."""
    try:
        egg = zc.recipe.egg.Egg(buildout, opt.part,
                                {'eggs': '\n'.join(requirements)})
        return egg.working_set()[1]
    except zc.buildout.UserError as e:
        raise opt.error(option, e)
    except Exception as e:
        raise opt.error(option, '%s: %s' % (type(e).__name__, e))
